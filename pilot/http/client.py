"""pilot's HTTP/1.1 client: requests framed by h11 on asyncio streams, over TCP or a unix
socket, plain or TLS, one kept-alive connection per Client (pilot.http.blocking.fetch is the
form without an event loop, for the command line).

    client = Client("/run/pilot.sock")            # or Client(("127.0.0.1", 8500))
    client = Client(("consul", 8501), tls=client_context("/etc/consul/ca.pem"))
    reply = await client.request("GET", "/v3/ping", timeout=5)
    await client.close()
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pilot.http.exchange import Address, ClientError, Exchange, Reply, Unanswered, host_header
from pilot.http.limits import Limits

if TYPE_CHECKING:
    import ssl


class Client:
    """Requests to one server, one at a time over one connection kept open between them.
    An answer over `limits.max_head` or `limits.max_body` is refused (ClientError). With
    `tls` (see pilot.http.tls.client_context) the connection is TLS, its certificate checked
    against `server_name` (by default the address's host)."""

    def __init__(
        self,
        address: Address,
        limits: Limits | None = None,
        tls: ssl.SSLContext | None = None,
        server_name: str | None = None,
    ) -> None:
        self.address, self.limits = address, limits or Limits()
        self.tls, self._server_name = tls, server_name
        self._host = host_header(address)
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
                # chained: a caller may tell a refusal from a TLS failure (pilot.consul.errors)
                raise ClientError(str(error) or type(error).__name__) from error
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
        if self._stream is not None:
            try:
                return await self._stream.exchange(method, target, head, body)
            except Unanswered:  # the server had closed the kept-alive connection: send anew
                await self.close()
        try:
            return await (await self._connect()).exchange(method, target, head, body)
        except Unanswered:
            raise ClientError("the server closed the connection without answering") from None

    async def _connect(self) -> _Stream:
        if isinstance(self.address, str):
            reader, writer = await asyncio.open_unix_connection(
                self.address, limit=self.limits.max_head
            )
        elif self.tls is None:
            reader, writer = await asyncio.open_connection(
                *self.address, limit=self.limits.max_head
            )
        else:
            reader, writer = await asyncio.open_connection(
                *self.address,
                limit=self.limits.max_head,
                ssl=self.tls,
                server_hostname=self._server_name or self.address[0],
            )
        self._stream = _Stream(reader, writer, self)
        return self._stream


class _Stream:
    """One connection of a Client."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, client: Client
    ) -> None:
        self.reader, self.writer, self.client = reader, writer, client
        self.h11 = Exchange(client.limits)

    async def exchange(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes
    ) -> Reply:
        """Send a request and read its answer; the connection is closed unless it may carry
        another request."""
        try:
            self.writer.write(self.h11.request(method, target, headers, body))
            await self.writer.drain()
        except ConnectionError:
            raise Unanswered from None
        while True:
            try:
                data = await self.reader.read(self.client.limits.max_head)
            except ConnectionError:
                data = b""
            reply = self.h11.receive(data)
            if reply is not None:
                break
        if not self.h11.reusable():
            await self.client.close()
        return reply
