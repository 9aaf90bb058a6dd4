"""A minimal HTTP/1.1 server for asyncio streams: one request per connection, JSON answers.
Enough for the control socket and the telemetry endpoint; nothing here is exposed to browsers.

A hostile client costs bounded resources: at most `limit` connections are open at once (more
are closed at once, unread), a request must arrive within DEADLINE with a head of at most
MAX_HEAD bytes (else 431) and a body of at most MAX_BODY (else 413), its answer must be taken
within DEADLINE, and a JSON body may nest MAX_JSON_DEPTH deep (else 400). A handler that fails
unexpectedly answers 500 and logs one line."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pilot.log import Log

MAX_HEAD = 64 << 10  # request line and headers, as bytes on the wire
MAX_BODY = 1 << 20
MAX_JSON_DEPTH = 64
DEADLINE = 10.0  # seconds to read a request, and again to write its answer
LINGER = 1.0  # seconds to discard the rest of a request answered before it was read
REFUSALS_LOGGED_EVERY = 60.0  # seconds: at most one log line about refused connections

REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}

# A JSON string (skipped whole, so brackets inside it do not count) or a bracket.
_JSON_STRUCTURE = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)


@dataclass
class Request:
    method: str
    path: str
    query: str
    body: bytes

    def json(self) -> Any:
        """The body as JSON; raises HTTPError(400) when it is not, or nests too deep."""
        if _nests_deeper(self.body, MAX_JSON_DEPTH):
            raise HTTPError(400, f"body is JSON nested deeper than {MAX_JSON_DEPTH} levels")
        try:
            return json.loads(self.body or b"null")
        except ValueError as error:
            raise HTTPError(400, f"body is not JSON: {error}") from None


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


class HTTPError(Exception):
    """An error answer: `{"error": message}` with `status`."""

    def __init__(self, status: int, message: str, allow: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.allow = status, message, allow


def json_response(value: Any, status: int = 200) -> Response:
    return Response(status, (json.dumps(value, indent=2, default=str) + "\n").encode())


Handler = Callable[[Request], Awaitable[Response]]
ConnectionCallback = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def serve_connection(handler: Handler, name: str, limit: int, log: Log) -> ConnectionCallback:
    """An asyncio connection callback that answers one request with `handler`, with at most
    `limit` connections open at once; `name` (the server's) begins its log lines. Start the
    server with `limit=MAX_HEAD`, the longest line its streams may read."""
    return _Connections(handler, name, limit, log).serve


class Refusals:
    """The connections a server closed unread because `limit` were open, said in the log at
    most once every REFUSALS_LOGGED_EVERY seconds (a flood must not flood the log too)."""

    def __init__(self, name: str, limit: int, log: Log) -> None:
        self.name, self.limit, self._log = name, limit, log
        self.count = 0
        self._logged: float | None = None

    def note(self) -> None:
        """Count one refused connection, and say so when the last line is old enough."""
        self.count += 1
        now = time.monotonic()
        if self._logged is None or now - self._logged >= REFUSALS_LOGGED_EVERY:
            self._logged = now
            self._log.warn(
                f"{self.name}: {self.limit} connections open, new ones are closed at once "
                f"({self.count} so far)"
            )


class _Connections:
    """The connections of one server."""

    def __init__(self, handler: Handler, name: str, limit: int, log: Log) -> None:
        self._handler, self._name, self._limit, self._log = handler, name, limit, log
        self._open = 0
        self._refusals = Refusals(name, limit, log)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answer one request, or close the connection at once when `limit` are open."""
        if self._open >= self._limit:
            writer.transport.abort()
            self._refusals.note()
            return
        self._open += 1
        peer = _peer(writer)
        try:
            await self._exchange(reader, writer, peer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away
        except Exception as error:  # a bug of pilot's: one line, not asyncio's traceback
            self._log.error(f"{self._name}: {peer}: {_one_line(error)}")
        finally:
            self._open -= 1
            writer.transport.abort()  # nothing left to do after a clean close

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str
    ) -> None:
        try:
            async with asyncio.timeout(DEADLINE):
                request = await _read_request(reader)
        except TimeoutError:
            self._log.debug(f"{self._name}: closed {peer}: no whole request within {DEADLINE:g}s")
            return
        except HTTPError as error:  # answered before the request was read to its end
            self._log.debug(f"{self._name}: {peer}: {error.status} {error.message}")
            if await self._send(writer, _error_response(error), peer, close=False):
                await _linger(reader, writer)
            return
        await self._send(writer, await self._respond(request, peer), peer, close=True)

    async def _respond(self, request: Request, peer: str) -> Response:
        try:
            return await self._handler(request)
        except HTTPError as error:
            self._log.debug(
                f"{self._name}: {peer}: {request.method} {request.path}: "
                f"{error.status} {error.message}"
            )
            return _error_response(error)
        except Exception as error:  # a bug of pilot's: one line, not asyncio's traceback
            self._log.error(
                f"{self._name}: {request.method} {request.path} failed: {_one_line(error)}"
            )
            return json_response({"error": "internal error (see pilot's log)"}, 500)

    async def _send(
        self, writer: asyncio.StreamWriter, response: Response, peer: str, close: bool
    ) -> bool:
        """Write `response` (and with `close`, end the connection) within DEADLINE; False when
        the client did not take it in time."""
        head = [
            f"HTTP/1.1 {response.status} {REASONS.get(response.status, 'Unknown')}",
            f"Content-Type: {response.content_type}",
            f"Content-Length: {len(response.body)}",
            "Connection: close",
            *(f"{key}: {value}" for key, value in response.headers.items()),
        ]
        try:
            async with asyncio.timeout(DEADLINE):
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + response.body)
                await writer.drain()
                if close:
                    writer.close()
                    await writer.wait_closed()
        except TimeoutError:
            self._log.debug(f"{self._name}: closed {peer}: answer not read within {DEADLINE:g}s")
            return False
        return True

async def _read_request(reader: asyncio.StreamReader) -> Request:
    lines = await _read_head(reader)
    parts = lines[0].split() if lines else []
    if len(parts) != 3:
        raise HTTPError(400, "malformed request line")
    method, target, _ = parts
    length = 0
    for header in lines[1:]:
        name, _, value = header.partition(":")
        if name.strip().lower() == "content-length":
            value = value.strip()
            if not (value.isascii() and value.isdigit()):
                raise HTTPError(400, "bad Content-Length")
            length = int(value)
    if length > MAX_BODY:
        raise HTTPError(413, f"body over {MAX_BODY} bytes")
    body = await reader.readexactly(length) if length else b""
    path, _, query = target.partition("?")
    return Request(method.upper(), path, query, body)


async def _read_head(reader: asyncio.StreamReader) -> list[str]:
    """The request line and the header lines, up to the blank line that ends them."""
    too_large = HTTPError(431, f"request head over {MAX_HEAD} bytes")
    lines: list[str] = []
    size = 0
    while True:
        try:
            line = await reader.readuntil(b"\n")
        except asyncio.LimitOverrunError:
            raise too_large from None
        size += len(line)
        if size > MAX_HEAD:
            raise too_large
        text = line.decode("latin-1").strip()
        if not text:
            return lines
        lines.append(text)


async def _linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """End the answer, then discard what the client still sends, for at most LINGER: closing
    with data unread resets a TCP connection, and the client could lose the answer."""
    writer.write_eof()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(LINGER):
            while await reader.read(MAX_HEAD):
                pass


def _error_response(error: HTTPError) -> Response:
    response = json_response({"error": error.message}, error.status)
    if error.allow:
        response.headers["Allow"] = error.allow
    return response


def _nests_deeper(body: bytes, limit: int) -> bool:
    """Whether JSON `body` opens more than `limit` arrays and objects inside each other
    (json.loads would recurse that deep, and raise RecursionError past Python's limit)."""
    depth = 0
    for match in _JSON_STRUCTURE.finditer(body):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif token in (b"]", b"}"):
            depth -= 1
    return False


def _peer(writer: asyncio.StreamWriter) -> str:
    address = writer.get_extra_info("peername")
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return "local client"


def _one_line(error: BaseException) -> str:
    return " ".join(f"{type(error).__name__}: {error}".split())
