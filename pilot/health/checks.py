"""Health checks run inside pilot: http and tcp on the event loop (no process per check), exec
through pilot's one way to spawn and its one reaper."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import os
import signal
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol
from urllib.parse import SplitResult, quote, unquote, urlsplit

from pilot.process.output import PipeReader
from pilot.process.reaper import Reaper, exit_code
from pilot.process.spawn import SpawnError, SpawnRequest, spawn

if TYPE_CHECKING:
    import ssl

OUTPUT_LIMIT = 4096
# After SIGKILL, how long a timed-out exec check waits for the reaper before reporting anyway
# (a process stuck in the kernel cannot die at once; the health loop must not stall on it).
_KILL_GRACE = 1.0
_URL_SAFE = "/?%:@!$&'()*+,;=~"  # left as they are in a request target; the rest is escaped


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
    parts = urlsplit(url)
    what = f"HTTP {method} {_redacted(url, parts)}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return CheckResult(False, f"{what}: not an http:// or https:// URL")
    try:
        async with asyncio.timeout(timeout):
            status, body = await _get(parts, method, headers, verify)
    except TimeoutError:
        return CheckResult(False, f"{what}: timed out after {timeout:g}s")
    except (OSError, ValueError, EOFError) as error:
        return CheckResult(False, f"{what}: {_reason(error)}")
    passing = 200 <= int(status[:3]) < 400
    return CheckResult(passing, f"{what}: {status} Output: {body.decode('utf-8', 'replace')}")


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
    except (OSError, ValueError) as error:
        return CheckResult(False, f"{what}: {_reason(error)}")
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


@functools.lru_cache(maxsize=2)
def _tls_context(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    """The default context, made once per CA location: loading the CAs blocks the loop."""
    import ssl

    return ssl.create_default_context()


@functools.lru_cache(maxsize=1)
def _unverified_context() -> ssl.SSLContext:
    import ssl

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def _get(
    parts: SplitResult, method: str, headers: tuple[tuple[str, str], ...], verify: bool
) -> tuple[str, bytes]:
    """The status (`200 OK`) and the start of the body of the answer to `method` `parts`.

    Raises:
        ValueError: the answer is not HTTP.
    """
    context = None
    if parts.scheme == "https":
        context = (
            _tls_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
            if verify
            else _unverified_context()
        )
    port = parts.port or (443 if context else 80)
    request = _request(parts, method, headers)
    assert parts.hostname  # checked by http_check
    if context is None:  # on the socket itself: a stream's transport and protocol cost more
        sock = await _connect(parts.hostname, port)
        try:
            await asyncio.get_running_loop().sock_sendall(sock, request)
            return await _read_answer(_SocketReader(sock), method)
        finally:
            sock.close()
    reader, writer = await asyncio.open_connection(parts.hostname, port, ssl=context)
    try:
        writer.write(request)
        return await _read_answer(reader, method)
    finally:
        writer.close()


async def _read_answer(reader: _Reader, method: str) -> tuple[str, bytes]:
    line = (await reader.readline()).decode("latin-1").strip()
    if not line:
        raise ValueError("the server closed the connection without answering")
    version, _, status = line.partition(" ")
    if not version.startswith("HTTP/") or not (status[:3].isascii() and status[:3].isdigit()):
        raise ValueError(f"not an HTTP answer: {line[:100]!r}")
    answer = await _read_headers(reader)
    no_body = status[:3] in ("204", "304") or method == "HEAD"
    body = b"" if no_body else await _read_body(reader, answer)
    return status, body


async def _connect(host: str, port: int) -> socket.socket:
    """A non-blocking socket connected to `host`:`port`, its addresses tried in turn (as
    asyncio.open_connection does, with the same errors)."""
    loop = asyncio.get_running_loop()
    try:  # an address needs no resolver (and no thread for it)
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    except socket.gaierror:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    if not infos:
        raise OSError("getaddrinfo() returned empty list")
    errors: list[OSError] = []
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            await loop.sock_connect(sock, address)
        except BaseException as error:
            sock.close()
            if not isinstance(error, OSError):
                raise
            errors.append(error)
            continue
        return sock
    if len(errors) == 1 or all(str(error) == str(errors[0]) for error in errors):
        raise errors[0]
    raise OSError(f"Multiple exceptions: {', '.join(str(error) for error in errors)}")


class _Reader(Protocol):
    async def readline(self) -> bytes: ...
    async def read(self, n: int) -> bytes: ...
    async def readexactly(self, n: int) -> bytes: ...


class _SocketReader:
    """What reading an answer needs of asyncio.StreamReader, straight from a socket."""

    _LIMIT = 2**16  # a line longer than StreamReader's default limit is an error there too

    def __init__(self, sock: socket.socket) -> None:
        self._sock, self._buffer, self._eof = sock, bytearray(), False

    async def _fill(self) -> bool:
        """Read more into the buffer; False at the end of the answer."""
        if self._eof:
            return False
        chunk = await asyncio.get_running_loop().sock_recv(self._sock, self._LIMIT)
        self._eof = not chunk
        self._buffer += chunk
        return bool(chunk)

    def _take(self, n: int) -> bytes:
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data

    async def readline(self) -> bytes:
        while (end := self._buffer.find(b"\n")) < 0:
            if len(self._buffer) > self._LIMIT:
                raise ValueError("Separator is not found, and chunk exceed the limit")
            if not await self._fill():
                return self._take(len(self._buffer))
        if end >= self._LIMIT:
            raise ValueError("Separator is found, but chunk is longer than limit")
        return self._take(end + 1)

    async def read(self, n: int) -> bytes:
        if not self._buffer:
            await self._fill()
        return self._take(n)

    async def readexactly(self, n: int) -> bytes:
        while len(self._buffer) < n:
            if not await self._fill():
                raise asyncio.IncompleteReadError(self._take(len(self._buffer)), n)
        return self._take(n)


def _request(parts: SplitResult, method: str, headers: tuple[tuple[str, str], ...]) -> bytes:
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    given = {name.lower() for name, _ in headers}
    fields = [
        ("Host", parts.netloc.rpartition("@")[2]),
        ("User-Agent", "pilot health check"),
        ("Accept", "text/plain, text/*, */*"),
    ]
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        fields.append(("Authorization", f"Basic {base64.b64encode(credentials.encode()).decode()}"))
    fields = [(name, value) for name, value in fields if name.lower() not in given]
    fields += [*headers, ("Connection", "close")]
    if method in ("POST", "PUT", "PATCH"):
        fields.append(("Content-Length", "0"))
    lines = [f"{method} {quote(target, safe=_URL_SAFE)} HTTP/1.1"]
    lines += [f"{name}: {value}" for name, value in fields]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _read_headers(reader: _Reader) -> dict[str, str]:
    headers: dict[str, str] = {}
    while line := (await reader.readline()).decode("latin-1").strip():
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return headers


async def _read_body(reader: _Reader, headers: Mapping[str, str]) -> bytes:
    """Up to OUTPUT_LIMIT bytes of the body, without waiting for more than the answer holds."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = b""
        while len(body) < OUTPUT_LIMIT:
            size = int((await reader.readline()).split(b";")[0], 16)
            if size == 0:
                break
            body += await reader.readexactly(min(size, OUTPUT_LIMIT - len(body)))
            if len(body) < OUTPUT_LIMIT:
                await reader.readexactly(2)  # the CRLF after the chunk
        return body
    length = headers.get("content-length", "")
    return await _read_up_to(reader, min(int(length), OUTPUT_LIMIT) if length else OUTPUT_LIMIT)


async def _read_up_to(reader: _Reader, size: int) -> bytes:
    data = b""
    while len(data) < size and (chunk := await reader.read(size - len(data))):
        data += chunk
    return data


def _redacted(url: str, parts: SplitResult) -> str:
    """`url` with its password, if any, replaced (as Go's URL.Redacted does)."""
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{parts.username}:xxxxx@{host}").geturl()


def _reason(error: BaseException) -> str:
    if isinstance(error, EOFError):
        return "the server closed the connection in the middle of its answer"
    if isinstance(error, ConnectionError) and error.errno:
        return os.strerror(error.errno)  # asyncio's own text names the address again
    return str(error) or type(error).__name__
