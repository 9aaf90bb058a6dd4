"""Health checks run inside pilot: http and tcp on the event loop (no process per check), exec
through pilot's one way to spawn and its one reaper."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import SplitResult, quote, unquote, urlsplit

from pilot.http.exchange import ClientError, reason
from pilot.http.limits import Limits
from pilot.http.once import request_once
from pilot.process.output import PipeReader
from pilot.process.reaper import Reaper, exit_code
from pilot.process.spawn import SpawnError, SpawnRequest, spawn

OUTPUT_LIMIT = 4096
# After SIGKILL, how long a timed-out exec check waits for the reaper before reporting anyway
# (a process stuck in the kernel cannot die at once; the health loop must not stall on it).
_KILL_GRACE = 1.0
_URL_SAFE = "/?%:@!$&'()*+,;=~"  # left as they are in a request target; the rest is escaped
# The answer's head may be as long as asyncio's default line limit; of the body, only what
# the output keeps is read.
_LIMITS = Limits(max_head=64 << 10, max_body=OUTPUT_LIMIT, truncate_body=True)


@dataclass(frozen=True)
class CheckResult:
    """One check's verdict and what it said (at most 4 KiB of UTF-8, as Consul keeps)."""

    passing: bool
    output: str

    def __post_init__(self) -> None:
        data = self.output.encode("utf-8", "replace")
        if len(data) > OUTPUT_LIMIT:
            object.__setattr__(self, "output", data[:OUTPUT_LIMIT].decode("utf-8", "ignore"))


async def http_check(
    url: str,
    timeout: float,
    method: str = "GET",
    headers: tuple[tuple[str, str], ...] = (),
    verify: bool = True,
) -> CheckResult:
    """`method` `url` (HTTP/1.1) with `headers`; a 2xx or 3xx answer passes, redirects are not
    followed.

    https verifies the certificate against the system's CAs, or those `SSL_CERT_FILE` /
    `SSL_CERT_DIR` name, unless `verify` is false. `user:password@` in the URL is sent as basic
    auth and redacted from the output. Connecting, the answer's head and the first 4 KiB of its
    body share `timeout`.
    """
    request = _request(url, method, headers)
    what = request.what
    if request.error:
        return CheckResult(False, f"{what}: {request.error}")
    try:
        tls = None
        if request.https:
            from pilot.http.tls import client_context  # imports ssl: only for an https check

            tls = client_context(verify)
        async with asyncio.timeout(timeout):
            reply = await request_once(
                request.address, method, request.target, request.headers, limits=_LIMITS, tls=tls
            )
    except TimeoutError:
        return CheckResult(False, f"{what}: timed out after {timeout:g}s")
    except (ClientError, OSError) as error:  # OSError: the system's CAs cannot be read
        return CheckResult(False, f"{what}: {error}")
    status = f"{reply.status} {reply.reason}".rstrip()
    output = f"{what}: {status} Output: {reply.body.decode('utf-8', 'replace')}"
    return CheckResult(200 <= reply.status < 400, output)


async def tcp_check(address: str, timeout: float) -> CheckResult:
    """Connect to `host:port` (`[::1]:80` for IPv6); a connection passes."""
    what = f"TCP connect {address}"
    host, _, port = address.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        return CheckResult(False, f"{what}: an IPv6 host goes in brackets, like [::1]:80")
    if not host or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        return CheckResult(False, f"{what}: not host:port")
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(host, int(port))
        writer.close()
    except TimeoutError:
        return CheckResult(False, f"{what}: timed out after {timeout:g}s")
    except OSError as error:
        return CheckResult(False, f"{what}: {reason(error)}")
    except ValueError as error:
        return CheckResult(False, f"{what}: {error}")
    return CheckResult(True, f"{what}: Success")


async def exec_check(
    argv: tuple[str, ...],
    timeout: float,
    reaper: Reaper,
    env: Mapping[str, str],
    cwd: str | None = None,
) -> CheckResult:
    """Run `argv` in a process group of its own; exit 0 passes, anything else fails.

    The output is stdout and stderr, line by line as they arrive. When the check exits, what
    is left of its group is SIGKILLed; so is the whole group after `timeout`, or when the
    caller is cancelled.
    """
    loop = asyncio.get_running_loop()
    try:
        process = spawn(SpawnRequest(argv=argv, env=env, cwd=cwd, capture=True))
    except SpawnError as error:
        return CheckResult(False, str(error))
    exited: asyncio.Future[int] = loop.create_future()
    readers: list[PipeReader] = []
    lines: list[str] = []
    kept = 0

    def keep(line: str) -> None:
        nonlocal kept
        if kept <= OUTPUT_LIMIT:  # read on regardless, or a chatty check blocks on a full pipe
            lines.append(line)
            kept += len(line) + 1

    def on_exit(status: int) -> None:
        process.returncode = os.waitstatus_to_exitcode(status)
        for reader in readers:
            reader.drain()
        _kill_group(process.pid)
        exited.set_result(status)

    reaper.watch(process.pid, on_exit)
    for stream in (process.stdout, process.stderr):
        assert stream is not None  # capture=True
        readers.append(PipeReader(loop, os.dup(stream.fileno()), keep))
        stream.close()
    try:
        async with asyncio.timeout(timeout):
            status = await asyncio.shield(exited)  # a timeout must not cancel the future
    except TimeoutError:
        _kill_group(process.pid)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_KILL_GRACE):
                await asyncio.shield(exited)
        return CheckResult(False, "\n".join([f"timed out after {timeout:g}s", *lines]))
    finally:
        if not exited.done():  # cancelled, or killed but not reaped yet
            _kill_group(process.pid)
        for reader in readers:
            reader.close()
    code = exit_code(status)
    return CheckResult(code == 0, "\n".join(lines if code == 0 else [f"exit {code}", *lines]))


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


@dataclass(frozen=True)
class _Request:
    """An http check's request, worked out from its URL once (a check repeats it every
    interval, and with cold caches, as between checks, parsing the URL costs as much as
    sending)."""

    what: str  # "HTTP GET <url>", the password masked
    error: str = ""  # why the URL cannot be asked
    https: bool = False
    address: tuple[str, int] = ("", 0)
    target: str = "/"
    headers: tuple[tuple[str, str], ...] = ()


@functools.lru_cache(maxsize=256)
def _request(url: str, method: str, headers: tuple[tuple[str, str], ...]) -> _Request:
    parts = urlsplit(url)
    what = f"HTTP {method} {_redacted(url, parts)}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return _Request(what, "not an http:// or https:// URL")
    https = parts.scheme == "https"
    try:
        port = parts.port or (443 if https else 80)
    except ValueError as error:  # out of range, or not a number
        return _Request(what, str(error))
    target = quote((parts.path or "/") + (f"?{parts.query}" if parts.query else ""), _URL_SAFE)
    fields = _headers(parts, headers)
    return _Request(what, "", https, (parts.hostname, port), target, fields)


def _headers(parts: SplitResult, given: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """pilot's own headers, but those `given` replace, then the `given` ones."""
    names = {name.lower() for name, _ in given}
    fields = [
        ("Host", parts.netloc.rpartition("@")[2]),
        ("User-Agent", "pilot health check"),
        ("Accept", "text/plain, text/*, */*"),
    ]
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        fields.append(("Authorization", f"Basic {base64.b64encode(credentials.encode()).decode()}"))
    return (*((name, value) for name, value in fields if name.lower() not in names), *given)


def _redacted(url: str, parts: SplitResult) -> str:
    """`url` with its password, if any, replaced (as Go's URL.Redacted does)."""
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{parts.username}:xxxxx@{host}").geturl()
