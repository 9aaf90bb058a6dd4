"""pilot's HTTP/1.1 client: requests framed by h11 on asyncio streams, over TCP or a unix
socket, one kept-alive connection per Client. `fetch` is the blocking form for the command
line.

    client = Client("/run/pilot.sock")            # or Client(("127.0.0.1", 8500))
    reply = await client.request("GET", "/v3/ping", timeout=5)
    await client.close()
"""

from __future__ import annotations

import asyncio
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


class Client:
    """Requests to one server, one at a time over one connection kept open between them.
    An answer over `limits.max_head` or `limits.max_body` is refused (ClientError)."""

    def __init__(self, address: Address, limits: Limits | None = None) -> None:
        self.address, self.limits = address, limits or Limits()
        self._host = "localhost" if isinstance(address, str) else _host_header(*address)
        self._lock = asyncio.Lock()
        self._stream: _Stream | None = None

    async def request(
        self,
        method: str,
        target: str,
        body: bytes = b"",
        headers: Sequence[tuple[str, str]] = (),
        timeout: float = 30.0,
    ) -> Reply:
        """Send one request and read its answer, all within `timeout` seconds.

        Raises:
            ClientError: no answer (see ClientError).
        """
        async with self._lock:
            try:
                async with asyncio.timeout(timeout):
                    return await self._exchange(method, target, body, headers)
            except TimeoutError:
                await self.close()
                raise ClientError(f"no answer within {timeout:g}s") from None
            except (OSError, asyncio.IncompleteReadError) as error:
                await self.close()
                raise ClientError(str(error) or type(error).__name__) from None
            except ClientError:
                await self.close()
                raise

    async def close(self) -> None:
        """Close the connection (the next request opens another)."""
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.writer.transport.abort()

    async def _exchange(
        self, method: str, target: str, body: bytes, headers: Sequence[tuple[str, str]]
    ) -> Reply:
        head = [("Host", self._host), *headers]
        if body or method in ("POST", "PUT", "PATCH"):
            head.append(("Content-Length", str(len(body))))
        reused = self._stream is not None
        try:
            return await self._over(
                self._stream or await self._connect(), method, target, head, body
            )
        except _Unanswered:
            await self.close()
            if not reused:
                raise ClientError("the server closed the connection without answering") from None
        # The server had closed the kept-alive connection before this request: send it anew.
        try:
            return await self._over(await self._connect(), method, target, head, body)
        except _Unanswered:
            raise ClientError("the server closed the connection without answering") from None

    async def _over(
        self, stream: _Stream, method: str, target: str, head: list[tuple[str, str]], body: bytes
    ) -> Reply:
        reply, reusable = await stream.exchange(method, target, head, body)
        if not reusable:
            await self.close()
        return reply

    async def _connect(self) -> _Stream:
        if isinstance(self.address, str):
            reader, writer = await asyncio.open_unix_connection(
                self.address, limit=self.limits.max_head
            )
        else:
            reader, writer = await asyncio.open_connection(
                *self.address, limit=self.limits.max_head
            )
        self._stream = _Stream(reader, writer, self.limits)
        return self._stream


def fetch(
    address: Address,
    method: str,
    target: str,
    body: bytes = b"",
    headers: Sequence[tuple[str, str]] = (),
    timeout: float = 30.0,
    limits: Limits | None = None,
) -> Reply:
    """One request on a connection of its own, blocking (for the command line).

    Raises:
        ClientError: no answer (see ClientError).
    """

    async def once() -> Reply:
        client = Client(address, limits)
        try:
            return await client.request(method, target, body, headers, timeout)
        finally:
            await client.close()

    return asyncio.run(once())


class _Unanswered(Exception):
    """The connection ended before any byte of the answer."""


class _Stream:
    """One connection, and h11's state of it."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, limits: Limits
    ) -> None:
        import h11  # here, not at start-up: pilot's first steps need no HTTP

        self.h11, self.reader, self.writer, self.limits = h11, reader, writer, limits
        self.conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=limits.max_head)

    async def exchange(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[Reply, bool]:
        """Send a request and read its answer; (the answer, whether the connection may carry
        another request)."""
        h11 = self.h11
        data = self.conn.send(h11.Request(method=method, target=target, headers=headers))
        if body:
            data += self.conn.send(h11.Data(data=body))
        data += self.conn.send(h11.EndOfMessage())
        try:
            self.writer.write(data)
            await self.writer.drain()
        except ConnectionError:
            raise _Unanswered from None
        answered = False
        status, answer_headers, chunks, size = 0, [], [], 0
        while True:
            try:
                event = self.conn.next_event()
            except h11.RemoteProtocolError as error:
                if not answered:
                    raise _Unanswered from None
                raise ClientError(f"bad answer: {error}") from None
            if event is h11.NEED_DATA:
                try:
                    received = await self.reader.read(self.limits.max_head)
                except ConnectionError:
                    if not answered:
                        raise _Unanswered from None
                    raise
                answered = answered or bool(received)
                self.conn.receive_data(received)
            elif isinstance(event, h11.Response):
                status = event.status_code
                answer_headers = [
                    (k.decode("latin-1"), v.decode("latin-1")) for k, v in event.headers
                ]
            elif isinstance(event, h11.Data):
                size += len(event.data)
                if size > self.limits.max_body:
                    raise ClientError(f"answer body over {self.limits.max_body} bytes")
                chunks.append(event.data)
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                if not answered:
                    raise _Unanswered
                raise ClientError("the server closed the connection mid-answer")
        reply = Reply(status, answer_headers, b"".join(chunks))
        if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
            self.conn.start_next_cycle()
            return reply, True
        return reply, False


def _host_header(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
