"""The recording proxy's connection to the service, one per client connection: h11 as the
client, response heads held to MAX_HEAD."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import h11

from pilot.traffic import limits
from pilot.traffic.failures import UpstreamFailure


class Upstream:
    """The connection to the service that one client connection uses."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=limits.MAX_HEAD)
        self.broken = False  # a write failed: the rest of the request is dropped
        self.head_size = 0  # bytes received since the response's head began

    def reusable(self) -> bool:
        return (
            self.h11.our_state is h11.DONE
            and self.h11.their_state is h11.DONE
            and not self.reader.at_eof()
        )

    def start_next_cycle(self) -> None:
        self.h11.start_next_cycle()
        self.head_size = len(self.h11.trailing_data[0])

    async def send(self, event: h11.Event) -> None:
        """Send `event`; a failure marks the connection broken (its answer, or its closing,
        tells the rest)."""
        if self.broken:
            return
        try:
            data = self.h11.send(event)
            if data:
                self.writer.write(data)
                await self.writer.drain()
        except (OSError, h11.LocalProtocolError):
            self.broken = True

    async def next_event(self, before_waiting: Callable[[], Awaitable[None]]) -> h11.Event:
        """The next event from the service; `before_waiting` is awaited before each wait for
        its bytes.

        Raises:
            UpstreamFailure: the service closed the connection or sent malformed HTTP.
        """
        try:
            while True:
                event = self.h11.next_event()
                if event is h11.NEED_DATA:
                    await before_waiting()
                    try:
                        data = await self.reader.read(limits.READ_SIZE)
                    except OSError:
                        data = b""
                    self.head_size += len(data)
                    self.h11.receive_data(data)
                elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                    raise UpstreamFailure("the service closed the connection")
                elif isinstance(event, h11.InformationalResponse | h11.Response):
                    self._check_head_size()
                    return event
                else:
                    assert isinstance(event, h11.Event)
                    return event
        except h11.RemoteProtocolError as error:
            if self.reader.at_eof():
                raise UpstreamFailure("the service closed the connection") from None
            if error.error_status_hint == 431:
                raise UpstreamFailure(f"response head over {limits.MAX_HEAD} bytes") from None
            raise UpstreamFailure(f"malformed response from the service: {error}") from None

    def _check_head_size(self) -> None:
        """Hold a head that came whole to MAX_HEAD (h11 bounds only an incomplete one), and
        count the next one (after a 1xx) from the bytes left after it.

        Raises:
            UpstreamFailure: the head was longer.
        """
        informational = self.h11.their_state is h11.SEND_RESPONSE
        over = self.head_size > limits.MAX_HEAD
        left = len(self.h11.trailing_data[0]) if informational or over else 0
        if self.head_size - left > limits.MAX_HEAD:
            raise UpstreamFailure(f"response head over {limits.MAX_HEAD} bytes")
        self.head_size = left

    def close(self, graceful: bool) -> None:
        if graceful:
            self.writer.close()
        else:
            self.writer.transport.abort()
