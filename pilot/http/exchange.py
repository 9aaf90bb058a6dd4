"""One request and its answer as h11 sees them, without I/O: the asyncio client and the
blocking `fetch` drive it over their sockets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pilot.http.limits import Limits

Address = str | tuple[str, int]  # a unix socket's path, or (host, port)


@dataclass(frozen=True)
class Reply:
    """An answer. `headers` have lower-case names."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str:
        """The first header `name` (lower case), "" when absent."""
        return next((value for key, value in self.headers if key == name), "")


class ClientError(Exception):
    """No answer: the server could not be reached, closed the connection, broke HTTP or a
    limit, or took longer than the timeout."""


class Unanswered(Exception):
    """The connection ended before any byte of the answer (a kept-alive connection the server
    had closed: the request may be sent anew)."""


def host_header(address: Address) -> str:
    """The Host header for `address` ("localhost" for a unix socket)."""
    if isinstance(address, str):
        return "localhost"
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Exchange:
    """h11's client side of one connection, one request at a time."""

    def __init__(self, limits: Limits) -> None:
        import h11  # here, not at start-up: pilot's first steps need no HTTP

        self.h11, self.limits = h11, limits
        self.conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=limits.max_head)
        self._answered = False  # a byte of the answer came
        self._status, self._size = 0, 0
        self._headers: list[tuple[str, str]] = []
        self._chunks: list[bytes] = []

    def request(
        self, method: str, target: str, headers: Sequence[tuple[str, str]], body: bytes
    ) -> bytes:
        """The bytes of a request (`headers` hold Host), to send before reading its answer."""
        h11 = self.h11
        head = list(headers)
        if body or method in ("POST", "PUT", "PATCH"):
            head.append(("Content-Length", str(len(body))))
        data: bytes = self.conn.send(h11.Request(method=method, target=target, headers=head))
        if body:
            data += self.conn.send(h11.Data(data=body))
        data += self.conn.send(h11.EndOfMessage())
        return data

    def receive(self, data: bytes) -> Reply | None:
        """Take bytes of the answer (b"" at the end of the connection); the answer once whole.

        Raises:
            Unanswered: the connection ended before any byte of it.
            ClientError: it broke HTTP or a limit, or the connection ended in its middle.
        """
        h11 = self.h11
        self._answered = self._answered or bool(data)
        self.conn.receive_data(data)
        while True:
            try:
                event = self.conn.next_event()
            except h11.RemoteProtocolError as error:
                if not self._answered:
                    raise Unanswered from None
                raise ClientError(f"bad answer: {error}") from None
            if event is h11.NEED_DATA:
                return None
            if isinstance(event, h11.Response):
                self._status = event.status_code
                self._headers = [
                    (k.decode("latin-1"), v.decode("latin-1")) for k, v in event.headers
                ]
            elif isinstance(event, h11.Data):
                self._size += len(event.data)
                if self._size > self.limits.max_body:
                    raise ClientError(f"answer body over {self.limits.max_body} bytes")
                self._chunks.append(event.data)
            elif isinstance(event, h11.EndOfMessage):
                reply = Reply(self._status, self._headers, b"".join(self._chunks))
                self._answered = False
                self._status, self._size = 0, 0
                self._headers, self._chunks = [], []
                return reply
            elif isinstance(event, h11.ConnectionClosed):
                if not self._answered:
                    raise Unanswered
                raise ClientError("the server closed the connection mid-answer")

    def reusable(self) -> bool:
        """Whether the connection may carry another request (after a whole answer)."""
        h11 = self.h11
        if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
            self.conn.start_next_cycle()
            return True
        return False
