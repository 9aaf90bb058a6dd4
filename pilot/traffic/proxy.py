"""The recording proxy of the traffic monitor: serves a monitored service's advertised port,
passes each HTTP/1.1 exchange on to the service's internal port, and records it in a
TrafficStore. HTTP is parsed and framed by h11 on both sides: the proxy is a server to the
client and a client to the service, with one upstream connection per client connection (opened
at its first request, kept while both sides keep theirs alive; a request without a body of an
idempotent method is sent again, once, on a new connection when the service closed the kept
one without answering).

Bodies stream through chunk by chunk; only their first `body_limit` bytes are kept. Framing is
kept: a Content-Length body goes on with its length, a chunked one chunked (a response ended by
the service closing reaches an HTTP/1.1 client chunked, as h11 frames it). A 101 Switching
Protocols (WebSocket), or a CONNECT the service accepts, turns the connection into a byte pipe:
the exchange is recorded, the bytes after it are not. `identify` is asked once per connection,
when its first request is in; the connection's first answer waits for it (at most
IDENTIFY_TIMEOUT), since a caller that hangs up once answered can no longer be found.

The parts: `relay` passes one client connection's exchanges on, between `downstream` (the
client's side, its heads read within their limits) and `upstream` (the service's); `caller`
asks `identify`; `limits` holds the bounds.

What a client can hold is bounded (`limits`): at most MAX_CONNECTIONS client connections at
once, and MAX_PER_ADDRESS from one address (more are closed unread, with a warning at most once
a minute); heads of at most MAX_HEAD bytes (else 431 to the client, 502 for the service's); a
request head must arrive whole within HEAD_TIMEOUT of its first byte (of the connection's
opening, for its first request), a kept-alive connection may be silent IDLE_TIMEOUT between
requests, and a client silent for IDLE_TIMEOUT while the rest of a body is due is closed. A
request with both Content-Length and Transfer-Encoding is refused (400, connection closed): a
service that framed it by Content-Length would read the rest as a request of its own, one the
monitor never saw. A response may take as long as the service likes (long polls, event
streams) and a pipe may stay idle: each holds one of the MAX_CONNECTIONS until either side
closes (a client gone while the service is silent is noticed when the service next sends)."""

from __future__ import annotations

import asyncio
import collections

from pilot.http.server import Refusals
from pilot.log import Log
from pilot.traffic import limits
from pilot.traffic.caller import Address, Identify, one_line
from pilot.traffic.downstream import ClientConnection
from pilot.traffic.relay import Relay, Route
from pilot.traffic.store import DEFAULT_BODY_LIMIT, TrafficStore


class RecordingProxy:
    """Listens on `listen`, forwards to `upstream`, records the exchanges of `service` in
    `store` (credential headers masked, except those named lower-case in `unmasked`), naming
    the calling local service with `identify(client address, proxy address)` when given."""

    def __init__(
        self,
        service: str,
        listen: Address,
        upstream: Address,
        store: TrafficStore,
        log: Log,
        *,
        body_limit: int = DEFAULT_BODY_LIMIT,
        unmasked: frozenset[str] = frozenset(),
        identify: Identify | None = None,
    ) -> None:
        self.listen = listen
        self.route = Route(service, upstream, store, log, body_limit, unmasked, identify)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._per_address: collections.Counter[str] = collections.Counter()
        self._refusals = Refusals(f"traffic {service}", limits.MAX_CONNECTIONS, log)
        self._address_refusals = Refusals(
            f"traffic {service}, one address", limits.MAX_PER_ADDRESS, log
        )

    @property
    def address(self) -> Address:
        """The address listened on (with its real port when `listen` asked for port 0)."""
        assert self._server is not None, "not started"
        host, port = self._server.sockets[0].getsockname()[:2]
        return str(host), int(port)

    async def start(self) -> None:
        """Listen.

        Raises:
            OSError: the address cannot be listened on.
        """
        self._server = await asyncio.start_server(self._accept, *self.listen)

    async def close(self) -> None:
        """Stop listening, and close every client connection and its upstream connection."""
        if self._server is not None:
            self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        address = str(writer.get_extra_info("peername")[0])
        if len(self._tasks) >= limits.MAX_CONNECTIONS:
            writer.transport.abort()
            self._refusals.note()
            return
        if self._per_address[address] >= limits.MAX_PER_ADDRESS:
            writer.transport.abort()
            self._address_refusals.note()
            return
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._per_address[address] += 1
        relay = Relay(self.route, ClientConnection(reader, writer))
        try:
            await relay.serve()
            await relay.close(graceful=True)
        except asyncio.CancelledError:
            # close(): ended here, as asyncio's server would log a cancelled connection task
            await relay.close(graceful=False)
        except Exception as error:  # a bug of pilot's: one line, not asyncio's traceback
            self.route.log.error(
                f"traffic {self.route.service}: {relay.client.name}: {one_line(error)}"
            )
            await relay.close(graceful=False)
        finally:
            self._tasks.discard(task)
            self._per_address[address] -= 1
            if not self._per_address[address]:
                del self._per_address[address]
