"""Health checks run inside pilot: http and tcp on the event loop (no process per check), exec
through pilot's one way to spawn and its one reaper."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from pilot.process.output import PipeReader
from pilot.process.reaper import Reaper, exit_code
from pilot.process.spawn import SpawnError, SpawnRequest, spawn

OUTPUT_LIMIT = 4096


@dataclass(frozen=True)
class CheckResult:
    """One check's verdict and what it said (at most 4 KiB, as Consul keeps)."""

    passing: bool
    output: str

    def __post_init__(self) -> None:
        data = self.output.encode("utf-8", "replace")
        if len(data) > OUTPUT_LIMIT:
            object.__setattr__(self, "output", data[:OUTPUT_LIMIT].decode("utf-8", "ignore"))


async def http_check(url: str, timeout: float) -> CheckResult:
    """GET `url`; a 2xx or 3xx answer passes. https verifies the certificate."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    context = None
    if tls:
        import ssl

        context = ssl.create_default_context()
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port, ssl=context)
            host_header = parts.netloc.rpartition("@")[2]
            writer.write(
                f"GET {target} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: pilot\r\n"
                "Accept: text/plain, */*\r\nConnection: close\r\n\r\n".encode("latin-1")
            )
            await writer.drain()
            status_line = (await reader.readline()).decode("latin-1").strip()
            while (await reader.readline()).strip():
                pass  # headers
            body = await reader.read(OUTPUT_LIMIT)
    except TimeoutError:
        return CheckResult(False, f"HTTP GET {url}: timed out after {timeout:g}s")
    except (OSError, ValueError) as error:
        return CheckResult(False, f"HTTP GET {url}: {error}")
    finally:
        if writer is not None:
            writer.close()
    fields = status_line.split(" ", 2)
    if len(fields) < 2 or not fields[1].isdigit():
        return CheckResult(False, f"HTTP GET {url}: malformed answer {status_line!r}")
    code = int(fields[1])
    reason = fields[2] if len(fields) > 2 else ""
    text = body.decode("utf-8", "replace")
    return CheckResult(200 <= code < 400, f"HTTP GET {url}: {code} {reason} Output: {text}")


async def tcp_check(address: str, timeout: float) -> CheckResult:
    """Connect to `host:port` (`[::1]:80` for IPv6); a connection passes."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(host, int(port))
        writer.close()
    except TimeoutError:
        return CheckResult(False, f"TCP connect {address}: timed out after {timeout:g}s")
    except (OSError, ValueError) as error:
        return CheckResult(False, f"TCP connect {address}: {error}")
    return CheckResult(True, f"TCP connect {address}: Success")


async def exec_check(
    argv: tuple[str, ...],
    timeout: float,
    reaper: Reaper,
    env: Mapping[str, str],
    cwd: str | None = None,
) -> CheckResult:
    """Run `argv`; exit 0 passes. Its process group is SIGKILLed after `timeout`."""
    loop = asyncio.get_running_loop()
    try:
        process = spawn(SpawnRequest(argv=argv, env=env, cwd=cwd, capture=True))
    except SpawnError as error:
        return CheckResult(False, str(error))
    exited: asyncio.Future[int] = loop.create_future()

    def on_exit(status: int) -> None:
        process.returncode = os.waitstatus_to_exitcode(status)
        if not exited.done():
            exited.set_result(status)

    reaper.watch(process.pid, on_exit)
    lines: list[str] = []
    readers = []
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            readers.append(PipeReader(loop, os.dup(stream.fileno()), lines.append))
            stream.close()
    timed_out = False
    try:
        async with asyncio.timeout(timeout):
            status = await asyncio.shield(exited)  # the timeout must not cancel the future

    except TimeoutError:
        timed_out = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        status = await exited
    for reader in readers:
        reader.drain()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # leftovers of the check's group
    for reader in readers:
        reader.close()
    output = "\n".join(lines)
    if timed_out:
        return CheckResult(False, f"timed out after {timeout:g}s\n{output}".strip())
    code = exit_code(status)
    return CheckResult(code == 0, output if code == 0 else f"exit {code}\n{output}".strip())
