"""One request and its answer as h11 sees them, without I/O: the asyncio client and the
blocking `fetch` drive it over their sockets."""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pilot.http.limits import Limits

if TYPE_CHECKING:
    import h11

Address = str | tuple[str, int]  # a unix socket's path, or (host, port)
_QUOTED = 100  # characters of a first line that is not HTTP, quoted in the error


@dataclass(frozen=True)
class Reply:
    """An answer. `headers` have lower-case names; `reason` is the status line's phrase ("OK")."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    reason: str = ""

    def header(self, name: str) -> str:
        """The first header `name` (lower case), "" when absent."""
        return next((value for key, value in self.headers if key == name), "")


class ClientError(Exception):
    """No answer: the server could not be reached, closed the connection, broke HTTP or a
    limit, or took longer than the timeout."""


MID_ANSWER = "the server closed the connection in the middle of its answer"
NOT_ANSWERED = "the server closed the connection without answering"


class Unanswered(Exception):
    """The connection ended before any byte of the answer (a kept-alive connection the server
    had closed: the request may be sent anew)."""


def reason(error: Exception) -> str:
    """Why a connection failed, in the OS's words ("Connection refused": asyncio's own text
    names the address again, which the caller already says)."""
    if isinstance(error, ConnectionError) and error.errno:
        return os.strerror(error.errno)
    return str(error) or type(error).__name__


def host_header(address: Address) -> str:
    """The Host header for `address` ("localhost" for a unix socket)."""
    if isinstance(address, str):
        return "localhost"
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@functools.lru_cache(maxsize=64)
def _request_event(method: str, target: str, headers: tuple[tuple[str, str], ...]) -> h11.Request:
    """A request's head, validated once: h11's checks of its every header cost more than the
    rest of sending it, and a health check sends the same request each time."""
    import h11

    return h11.Request(method=method, target=target, headers=list(headers))


class Exchange:
    """h11's client side of one connection, one request at a time."""

    def __init__(self, limits: Limits) -> None:
        import h11  # here, not at start-up: pilot's first steps need no HTTP

        self.h11, self.limits = h11, limits
        self.conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=limits.max_head)
        self._answered = False  # a byte of the answer came
        self._start: bytearray | None = bytearray()  # the answer's first bytes, until HTTP/
        self._status, self._size, self._reason = 0, 0, ""
        self._headers: list[tuple[str, str]] = []
        self._chunks: list[bytes] = []

    def request(
        self, method: str, target: str, headers: Sequence[tuple[str, str]], body: bytes
    ) -> bytes:
        """The bytes of a request (`headers` hold Host), to send before reading its answer."""
        h11 = self.h11
        head = tuple(headers)
        if body or method in ("POST", "PUT", "PATCH"):
            head += (("Content-Length", str(len(body))),)
        data: bytes = self.conn.send(_request_event(method, target, head))
        if body:
            data += self.conn.send(h11.Data(data=body))
        data += self.conn.send(h11.EndOfMessage())
        return data

    def receive(self, data: bytes) -> Reply | None:
        """Take bytes of the answer (b"" at the end of the connection); the answer once whole,
        or once it holds `max_body` bytes of body with `limits.truncate_body`.

        Raises:
            Unanswered: the connection ended before any byte of it.
            ClientError: it broke HTTP or a limit, or the connection ended in its middle.
        """
        h11, limits = self.h11, self.limits
        if self._start is not None and data:
            self._check_start(data)
        self._answered = self._answered or bool(data)
        self.conn.receive_data(data)
        while True:
            try:
                event = self.conn.next_event()
            except h11.RemoteProtocolError as error:
                if not self._answered:
                    raise Unanswered from None
                if self._start:
                    self._check_start(b"", ended=True)
                if not data:
                    raise ClientError(MID_ANSWER) from None
                raise ClientError(f"bad answer: {error}") from None
            if event is h11.NEED_DATA:
                if limits.truncate_body and self._size >= limits.max_body:
                    return self._reply()
                return None
            if isinstance(event, h11.Response):
                self._status = event.status_code
                self._reason = event.reason.decode("latin-1")
                self._headers = [
                    (k.decode("latin-1"), v.decode("latin-1")) for k, v in event.headers
                ]
            elif isinstance(event, h11.Data):
                room = limits.max_body - self._size
                if len(event.data) > room:
                    if not limits.truncate_body:
                        raise ClientError(f"answer body over {limits.max_body} bytes")
                    self._chunks.append(event.data[:room])
                    self._size = limits.max_body
                    return self._reply()
                self._size += len(event.data)
                self._chunks.append(event.data)
            elif isinstance(event, h11.EndOfMessage):
                return self._reply()
            elif isinstance(event, h11.ConnectionClosed):
                if not self._answered:
                    raise Unanswered
                raise ClientError(MID_ANSWER)

    def _check_start(self, data: bytes, ended: bool = False) -> None:
        """Refuse an answer that does not begin as HTTP, once its first line is in (h11 would
        wait for a whole head that may never come: an SSH server waits for its client)."""
        assert self._start is not None
        self._start += data
        if b"HTTP/".startswith(self._start[:5]):
            if len(self._start) >= 5:
                self._start = None  # it is HTTP: h11 reads the rest
            return
        if ended or b"\n" in self._start or len(self._start) >= _QUOTED:
            line = self._start.split(b"\n")[0].decode("latin-1").strip()
            raise ClientError(f"not an HTTP answer: {line[:_QUOTED]!r}")

    def _reply(self) -> Reply:
        reply = Reply(self._status, self._headers, b"".join(self._chunks), self._reason)
        self._answered, self._start = False, bytearray()
        self._status, self._size, self._reason = 0, 0, ""
        self._headers, self._chunks = [], []
        return reply

    def reusable(self) -> bool:
        """Whether the connection may carry another request (after a whole answer)."""
        h11 = self.h11
        if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
            self.conn.start_next_cycle()
            return True
        return False
