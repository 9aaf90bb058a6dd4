"""The recording proxy's side of a client connection: h11 as the server, request heads read
within their limits (size, time, framing), answers written, and the connection closed so that
the client gets its last bytes."""

from __future__ import annotations

import asyncio
import http

import h11

from pilot.traffic import limits
from pilot.traffic.failures import ClientFailure, Failure, UpstreamFailure
from pilot.traffic.store import Headers


class ClientConnection:
    """One client's connection, as the proxy reads and writes it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=limits.MAX_HEAD)
        self.unsent: list[bytes] = []  # kept back by `send`
        peer = writer.get_extra_info("peername")
        self.address = str(peer[0]), int(peer[1])
        host, port = self.address
        self.name = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def local_address(self) -> tuple[str, int]:
        """The proxy's end of the connection."""
        local = self.writer.get_extra_info("sockname")
        return str(local[0]), int(local[1])

    def done(self) -> bool:
        """Whether the exchange ended cleanly on both sides (another may follow)."""
        return self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE

    async def next_request(self, first: bool) -> h11.Event:
        """The client's next request head (ConnectionClosed when it closed instead): whole
        within HEAD_TIMEOUT of its first byte (of now, for the `first` request of the
        connection), at most MAX_HEAD bytes, and not framed two ways.

        Raises:
            ClientFailure: the client closed mid-request, sent malformed HTTP or a head too
                large, or was too slow.
        """
        loop = asyncio.get_running_loop()
        size = len(self.h11.trailing_data[0])  # a pipelined request's first bytes
        deadline = loop.time() + limits.HEAD_TIMEOUT if first or size else None
        while (event := self.poll()) is None:
            waited = limits.IDLE_TIMEOUT if deadline is None else deadline - loop.time()
            try:
                async with asyncio.timeout(waited):
                    data = await self.reader.read(limits.READ_SIZE)
            except TimeoutError:
                if deadline is None:
                    why = f"the client was silent for {limits.IDLE_TIMEOUT:g}s"
                else:
                    why = f"no whole request head within {limits.HEAD_TIMEOUT:g}s"
                raise ClientFailure(why) from None
            except OSError:
                data = b""
            if deadline is None:
                deadline = loop.time() + limits.HEAD_TIMEOUT
            size += len(data)
            self.h11.receive_data(data)
        if not isinstance(event, h11.Request):
            return event
        # h11 bounds only a head still incomplete: one that came whole in a read may be longer
        if size > limits.MAX_HEAD and size - len(self.h11.trailing_data[0]) > limits.MAX_HEAD:
            raise ClientFailure(f"request head over {limits.MAX_HEAD} bytes", 431)
        names = {name for name, _ in event.headers}
        if b"content-length" in names and b"transfer-encoding" in names:
            raise ClientFailure("both Content-Length and Transfer-Encoding", 400)
        return event

    async def next_event(self) -> h11.Event:
        """The next event of a request's body from the client.

        Raises:
            ClientFailure: the client closed mid-request, sent malformed HTTP, or was silent
                for IDLE_TIMEOUT.
        """
        while (event := self.poll()) is None:
            try:
                async with asyncio.timeout(limits.IDLE_TIMEOUT):
                    data = await self.reader.read(limits.READ_SIZE)
            except TimeoutError:
                why = f"the client was silent for {limits.IDLE_TIMEOUT:g}s"
                raise ClientFailure(why) from None
            except OSError:
                data = b""
            self.h11.receive_data(data)
        return event

    def poll(self) -> h11.Event | None:
        """The client's next event when what was read holds it, else None.

        Raises:
            ClientFailure: the client closed mid-request or sent malformed HTTP.
        """
        try:
            event = self.h11.next_event()
        except h11.RemoteProtocolError as error:
            if self.reader.at_eof():
                raise ClientFailure("the client closed the connection mid-request") from None
            if error.error_status_hint == 431:
                raise ClientFailure(f"request head over {limits.MAX_HEAD} bytes", 431) from None
            raise ClientFailure(f"malformed request: {error}", error.error_status_hint) from None
        if event is h11.NEED_DATA:
            return None
        assert isinstance(event, h11.Event)  # never PAUSED: a cycle at a time
        return event

    async def send(self, event: h11.Event, flush: bool = True) -> None:
        """Send `event` to the client; without `flush`, its bytes wait for the next flush
        (the next wait for the service, or the response's end): one write for a response that
        came in one read.

        Raises:
            ClientFailure: the client is gone.
            UpstreamFailure: the service's answer cannot be relayed.
        """
        try:
            data = self.h11.send(event)
        except h11.LocalProtocolError as error:
            raise UpstreamFailure(f"the service's answer cannot be relayed: {error}") from None
        if data:
            self.unsent.append(data)
        if flush:
            await self.flush()

    async def flush(self) -> None:
        """Write what `send` kept back.

        Raises:
            ClientFailure: the client is gone.
        """
        if not self.unsent:
            return
        data = b"".join(self.unsent)
        self.unsent.clear()
        try:
            self.writer.write(data)
            await self.writer.drain()
        except OSError:
            raise ClientFailure("the client closed the connection mid-response") from None

    async def answer_error(self, status: int, answer: tuple[str, Headers, bytes]) -> None:
        """Send the proxy's own `answer` (reason, headers, body) with `status`, when an answer
        is still due; a client gone meanwhile is let go."""
        if self.h11.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        reason, headers, body = answer
        try:
            await self.send(h11.Response(status_code=status, headers=headers, reason=reason), False)
            await self.send(h11.Data(data=body), flush=False)
            await self.send(h11.EndOfMessage())
        except Failure:
            pass

    async def close(self, graceful: bool) -> None:
        """Close the connection; with `graceful`, once the client has had the last bytes (or
        CLOSE_TIMEOUT has passed)."""
        if not graceful:
            self.writer.transport.abort()
            return
        try:
            async with asyncio.timeout(limits.CLOSE_TIMEOUT):
                if self.h11.their_state in (h11.SEND_BODY, h11.ERROR):
                    # Answered before its request was all read (an error): what it still sends
                    # is read and dropped until it closes, as closing on unread bytes resets
                    # the connection, and the client may lose the answer.
                    self.writer.write_eof()
                    while await self.reader.read(limits.READ_SIZE):
                        pass
                self.writer.close()
                await self.writer.wait_closed()
        except (OSError, TimeoutError):
            self.writer.transport.abort()


def error_answer(status: int, why: str, close: bool) -> tuple[str, Headers, bytes]:
    """The proxy's own answer with `status`: its reason, headers and a body saying `why`."""
    body = f"pilot traffic monitor: {why}\n".encode()
    headers = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
        *([("Connection", "close")] if close else []),
    ]
    return http.HTTPStatus(status).phrase, headers, body
