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

What a client can hold is bounded: at most MAX_CONNECTIONS client connections at once, and
MAX_PER_ADDRESS from one address (more are closed unread, with a warning at most once a
minute); heads of at most MAX_HEAD bytes (else 431 to the client, 502 for the service's); a
request head must arrive whole within HEAD_TIMEOUT of its first byte (of the connection's
opening, for its first request), a kept-alive connection may be silent IDLE_TIMEOUT between
requests, and a client silent for IDLE_TIMEOUT while the rest of a body is due is closed. A
request with both Content-Length and Transfer-Encoding is refused (400, connection closed): a
service that framed it by Content-Length would read the rest as a request of its own, one the
monitor never saw. A response may take as
long as the service likes (long polls, event streams) and a pipe may stay idle: each holds one
of the MAX_CONNECTIONS until either side closes (a client gone while the service is silent is
noticed when the service next sends)."""

from __future__ import annotations

import asyncio
import collections
import http
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, NoReturn

import h11

from pilot.http.server import Refusals
from pilot.log import Log
from pilot.traffic.store import (
    DEFAULT_BODY_LIMIT,
    Body,
    Exchange,
    Headers,
    TrafficStore,
    mask_headers,
)

MAX_CONNECTIONS = 256  # client connections open at once
MAX_PER_ADDRESS = 64  # client connections open at once from one address
MAX_HEAD = 64 << 10  # bytes of a request or response head, its last CRLF included
HEAD_TIMEOUT = 10.0  # seconds for a request head to arrive whole
IDLE_TIMEOUT = 60.0  # seconds a client may stay silent between requests, or within a body
CONNECT_TIMEOUT = 10.0  # seconds to connect to the service
IDENTIFY_TIMEOUT = 2.0  # seconds an exchange's record waits for `identify`'s answer
CLOSE_TIMEOUT = 5.0  # seconds a client has to take the last bytes before they are dropped
READ_SIZE = 64 << 10
IDEMPOTENT = frozenset({b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"})

Address = tuple[str, int]
Identify = Callable[[Address, Address], Awaitable[str | None]]
Switch = h11.InformationalResponse | h11.Response  # a 101, or the answer to a CONNECT


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
        self.service, self.listen, self.upstream = service, listen, upstream
        self.store, self.log = store, log
        self.body_limit, self.unmasked, self.identify = body_limit, unmasked, identify
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._refusals = Refusals(f"traffic {service}", MAX_CONNECTIONS, log)
        self._address_refusals = Refusals(f"traffic {service}, one address", MAX_PER_ADDRESS, log)
        self._per_address: collections.Counter[str] = collections.Counter()

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
        if len(self._tasks) >= MAX_CONNECTIONS or self._per_address[address] >= MAX_PER_ADDRESS:
            writer.transport.abort()
            over = len(self._tasks) >= MAX_CONNECTIONS
            (self._refusals if over else self._address_refusals).note()
            return
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._per_address[address] += 1
        client = _Client(self, reader, writer)
        try:
            await client.serve()
            await client.close(graceful=True)
        except asyncio.CancelledError:
            # close(): ended here, as asyncio's server would log a cancelled connection task
            await client.close(graceful=False)
        except Exception as error:  # a bug of pilot's: one line, not asyncio's traceback
            self.log.error(f"traffic {self.service}: {client.name}: {_one_line(error)}")
            await client.close(graceful=False)
        finally:
            self._tasks.discard(task)
            self._per_address[address] -= 1
            if not self._per_address[address]:
                del self._per_address[address]


class _Failure(Exception):
    """An exchange broken off: the client connection ends. The message is its `error`."""


class _ClientFailure(_Failure):
    """The client went away, stayed silent too long, or sent a malformed request (`status` is
    then the error answer due to it)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class _UpstreamFailure(_Failure):
    """The service closed the connection or answered malformed HTTP."""


class _Upstream:
    """The connection to the service that one client connection uses."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)
        self.broken = False  # a write failed: the rest of the request is dropped
        self.head_size = 0  # bytes received since the response's head began

    def start_next_cycle(self) -> None:
        self.h11.start_next_cycle()
        self.head_size = len(self.h11.trailing_data[0])

    def reusable(self) -> bool:
        return (
            self.h11.our_state is h11.DONE
            and self.h11.their_state is h11.DONE
            and not self.reader.at_eof()
        )

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
            _UpstreamFailure: the service closed the connection or sent malformed HTTP.
        """
        try:
            while True:
                event = self.h11.next_event()
                if event is h11.NEED_DATA:
                    await before_waiting()
                    try:
                        data = await self.reader.read(READ_SIZE)
                    except OSError:
                        data = b""
                    self.head_size += len(data)
                    self.h11.receive_data(data)
                elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                    raise _UpstreamFailure("the service closed the connection")
                elif isinstance(event, h11.InformationalResponse | h11.Response):
                    self._check_head_size()
                    return event
                else:
                    assert isinstance(event, h11.Event)
                    return event
        except h11.RemoteProtocolError as error:
            if self.reader.at_eof():
                raise _UpstreamFailure("the service closed the connection") from None
            if error.error_status_hint == 431:
                raise _UpstreamFailure(f"response head over {MAX_HEAD} bytes") from None
            raise _UpstreamFailure(f"malformed response from the service: {error}") from None

    def _check_head_size(self) -> None:
        """Hold a head that came whole to MAX_HEAD (h11 bounds only an incomplete one), and
        count the next one (after a 1xx) from the bytes left after it.

        Raises:
            _UpstreamFailure: the head was longer.
        """
        informational = self.h11.their_state is h11.SEND_RESPONSE
        left = len(self.h11.trailing_data[0]) if informational or self.head_size > MAX_HEAD else 0
        if self.head_size - left > MAX_HEAD:
            raise _UpstreamFailure(f"response head over {MAX_HEAD} bytes")
        self.head_size = left

    def close(self, graceful: bool) -> None:
        if graceful:
            self.writer.close()
        else:
            self.writer.transport.abort()


class _Client:
    """One client connection: its requests one after the other, and their upstream."""

    def __init__(
        self, proxy: RecordingProxy, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.proxy, self.reader, self.writer = proxy, reader, writer
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
        self.upstream: _Upstream | None = None
        self.unsent: list[bytes] = []  # for the client, kept back by _send
        peer = writer.get_extra_info("peername")
        host, port = str(peer[0]), int(peer[1])
        self.name = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.address = host, port
        self.identity: asyncio.Future[str | None] | None = None

    async def serve(self) -> None:
        """Pass requests on until either side closes, or the client stays silent too long."""
        first = True
        while True:
            try:
                event = await self._next_request(first)
            except _ClientFailure as failure:
                if failure.status is not None:  # a malformed head: answered, not recorded
                    await self._answer_error(failure.status, str(failure), close=True)
                return
            if not isinstance(event, h11.Request):
                return  # the client closed between requests
            if first:
                self._ask_identity()
            first = False
            if not await self._exchange(event):
                return
            self.h11.start_next_cycle()

    def _ask_identity(self) -> None:
        """Ask `identify` who called: once the first request is in (a connection that sends
        none costs no look-up), and answered before its response is relayed (a caller may close
        its socket as soon as it has the answer, and then it cannot be found)."""
        if self.proxy.identify is not None:
            local = self.writer.get_extra_info("sockname")
            self.identity = asyncio.ensure_future(
                self.proxy.identify(self.address, (str(local[0]), int(local[1])))
            )

    async def close(self, graceful: bool) -> None:
        """Close both connections; with `graceful`, once the client has had the last bytes
        (or CLOSE_TIMEOUT has passed)."""
        if self.identity is not None:
            _discard(self.identity)
        self._drop_upstream()
        if not graceful:
            self.writer.transport.abort()
            return
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                if self.h11.their_state in (h11.SEND_BODY, h11.ERROR):
                    # Answered before its request was all read (an error): what it still sends
                    # is read and dropped until it closes, as closing on unread bytes resets
                    # the connection, and the client may lose the answer.
                    self.writer.write_eof()
                    while await self.reader.read(READ_SIZE):
                        pass
                self.writer.close()
                await self.writer.wait_closed()
        except (OSError, TimeoutError):
            self.writer.transport.abort()

    async def _exchange(self, request: h11.Request) -> bool:
        """Forward `request`, relay its answer and record both; whether the connection may
        carry another request."""
        started, began = time.time(), time.monotonic()
        exchange = Exchange(
            service=self.proxy.service,
            started=started,
            client=self.name,
            method=request.method.decode("latin-1"),
            url=request.target.decode("latin-1"),
            http_version=request.http_version.decode("latin-1"),
            request_headers=mask_headers(
                decode_headers(request.headers.raw_items()), self.proxy.unmasked
            ),
            request_body=Body(self.proxy.body_limit),
        )
        switch: Switch | None = None
        broken = False
        try:
            switch = await self._relay(request, exchange)
        except _Failure as failure:
            exchange.error, broken = str(failure), True
        exchange.duration = time.monotonic() - began
        exchange.client_service = await self._identity()
        self.proxy.store.add(exchange)
        if exchange.error is not None:
            self.proxy.log.debug(
                f"traffic {self.proxy.service}: {self.name}: {exchange.method} {exchange.url}: "
                f"{exchange.error}"
            )
        if switch is not None and self.upstream is not None:
            await self._pipe(self.upstream)
            return False
        if self.upstream is not None and not self.upstream.reusable():
            self._drop_upstream(graceful=True)
        elif self.upstream is not None:
            self.upstream.start_next_cycle()
        return not broken and self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE

    async def _relay(self, request: h11.Request, exchange: Exchange) -> Switch | None:
        """Pass the exchange on; the service's switch of protocols (relayed) when it made one.

        Raises:
            _Failure: the exchange broke off.
        """
        reused = self.upstream is not None
        upstream = await self._connect(exchange)
        if upstream is None:
            return None
        headers = list(request.headers.raw_items())
        if not any(name == b"host" for name, _ in request.headers):  # an HTTP/1.0 client's
            host, port = self.proxy.upstream
            headers.append((b"Host", f"{host}:{port}".encode()))
        forward = h11.Request(method=request.method, target=request.target, headers=headers)
        await upstream.send(forward)
        try:
            first = self._poll()
        except _ClientFailure as failure:
            await self._client_failed(failure, exchange)
        if isinstance(first, h11.EndOfMessage):  # no body (a GET): the response is all there is
            retry = reused and request.method in IDEMPOTENT
            switch = await self._exchange_bodiless(upstream, forward, exchange, retry)
        else:
            switch = await self._exchange_body(upstream, exchange, first)
        if switch is not None:
            await self._send(switch)
        return switch

    async def _exchange_bodiless(
        self, upstream: _Upstream, forward: h11.Request, exchange: Exchange, retry: bool
    ) -> Switch | None:
        """End the request `forward` and relay its response; with `retry`, send it once more
        on a new connection when the service closed its kept-alive one without answering (it
        may have closed it, idle, just as the request went out)."""
        await upstream.send(h11.EndOfMessage())
        try:
            return await self._download(upstream, exchange)
        except _UpstreamFailure as failure:
            if not (retry and exchange.status is None):
                return await self._upstream_failed(failure, exchange, None)
        self._drop_upstream()
        upstream_again = await self._connect(exchange)
        if upstream_again is None:
            return None
        await upstream_again.send(forward)
        return await self._exchange_bodiless(upstream_again, forward, exchange, retry=False)

    async def _exchange_body(
        self, upstream: _Upstream, exchange: Exchange, first: h11.Event | None
    ) -> Switch | None:
        """Pass the request's body on while its response comes back (the service may answer
        before the body's end, or ask for it with 100 Continue)."""
        upload = asyncio.ensure_future(self._upload(upstream, exchange, first))
        download = asyncio.ensure_future(self._download(upstream, exchange))
        try:
            await asyncio.wait((upload, download), return_when=asyncio.FIRST_EXCEPTION)
        except BaseException:
            upload.cancel()
            download.cancel()
            raise
        failure = upload.exception() if upload.done() else None
        if failure is not None:
            _discard(download)
            await self._client_failed(failure, exchange)
        failure = download.exception()
        if failure is not None:
            return await self._upstream_failed(failure, exchange, upload)
        await upload  # what is left of the request (its answer came early)
        return download.result()

    async def _client_failed(self, failure: BaseException, exchange: Exchange) -> NoReturn:
        """Break the exchange off for the client's `failure`, answering it when it is due an
        error status."""
        self._drop_upstream()
        if isinstance(failure, _ClientFailure) and failure.status is not None:
            await self._answer_error(failure.status, str(failure), True, exchange)
        raise failure

    async def _upstream_failed(
        self, failure: BaseException, exchange: Exchange, upload: asyncio.Future[None] | None
    ) -> Switch | None:
        """Answer 502 for the service's `failure` when nothing was relayed yet (once the
        request is in, so that the connection may go on); else break the exchange off."""
        self._drop_upstream()
        if not isinstance(failure, _UpstreamFailure) or self.h11.our_state is not h11.SEND_RESPONSE:
            if upload is not None:
                _discard(upload)
            raise failure
        if upload is not None:
            await upload
        exchange.error = str(failure)
        await self._answer_error(502, str(failure), False, exchange)
        return None

    async def _connect(self, exchange: Exchange) -> _Upstream | None:
        """The upstream connection, opened when there is none; None when the service cannot be
        reached (the client has been answered 502)."""
        if self.upstream is not None:
            return self.upstream
        host, port = self.proxy.upstream
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                reader, writer = await asyncio.open_connection(host, port)
        except (OSError, TimeoutError) as error:
            exchange.error = f"cannot connect to the service at {host}:{port}: {_why(error)}"
            waiting = self.h11.they_are_waiting_for_100_continue  # for a body it will not send
            if self.h11.their_state is h11.SEND_BODY and not waiting:
                await self._upload(None, exchange)
            await self._answer_error(502, exchange.error, waiting, exchange)
            return None
        self.upstream = _Upstream(reader, writer)
        return self.upstream

    async def _upload(
        self, upstream: _Upstream | None, exchange: Exchange, first: h11.Event | None = None
    ) -> None:
        """Pass the request body on to `upstream` (only record it without one), from its
        `first` event when that was taken already."""
        while True:
            event, first = first or await self._next_event(), None
            if isinstance(event, h11.Data):
                exchange.request_body.add(event.data)
            elif not isinstance(event, h11.EndOfMessage):
                raise _ClientFailure("the client closed the connection mid-request")
            if upstream is not None:
                await upstream.send(event)
            if isinstance(event, h11.EndOfMessage):
                return

    async def _download(self, upstream: _Upstream, exchange: Exchange) -> Switch | None:
        """Relay the response to the client, recording it; a switch of protocols is returned
        instead, unrelayed."""
        if upstream.broken:  # the request's head could not be sent
            raise _UpstreamFailure("the service closed the connection")
        while True:
            event = await upstream.next_event(self._flush)
            if isinstance(event, h11.InformationalResponse | h11.Response):
                # a head of its own: h11 sends HTTP/1.1, whatever the service's version
                event = type(event)(
                    status_code=event.status_code,
                    headers=event.headers.raw_items(),
                    reason=event.reason,
                )
            if isinstance(event, h11.InformationalResponse) and event.status_code != 101:
                await self._send(event)  # 100 Continue, 103 Early Hints
            elif isinstance(event, h11.InformationalResponse | h11.Response):
                await self._identity()  # while the caller waits: its socket is surely there
                exchange.status = event.status_code
                exchange.reason = event.reason.decode("latin-1")
                exchange.response_headers = mask_headers(
                    decode_headers(event.headers.raw_items()), self.proxy.unmasked
                )
                exchange.response_body = Body(self.proxy.body_limit)
                if upstream.h11.their_state is h11.SWITCHED_PROTOCOL:
                    exchange.upgrade = _upgrade(exchange)
                    return event
                await self._send(event, flush=False)
            elif isinstance(event, h11.Data):
                exchange.response_body.add(event.data)
                await self._send(event, flush=False)
            elif isinstance(event, h11.EndOfMessage):
                if self.h11.their_http_version != b"1.1":
                    event = h11.EndOfMessage()  # no trailers without chunked framing
                await self._send(event)
                return None

    async def _pipe(self, upstream: _Upstream) -> None:
        """Pass bytes both ways, those read past the switch's heads first, until either side
        closes."""
        early, _ = self.h11.trailing_data
        late, _ = upstream.h11.trailing_data
        if early:
            upstream.writer.write(early)
        if late:
            self.writer.write(late)
        pipes = (
            asyncio.ensure_future(_copy(self.reader, upstream.writer)),
            asyncio.ensure_future(_copy(upstream.reader, self.writer)),
        )
        try:
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pipe in pipes:
                pipe.cancel()
        self._drop_upstream(graceful=True)  # what was written still reaches the service

    async def _next_request(self, first: bool) -> h11.Event:
        """The client's next request head (ConnectionClosed when it closed instead): whole
        within HEAD_TIMEOUT of its first byte (of now, for the `first` request of the
        connection), at most MAX_HEAD bytes, and not framed two ways.

        Raises:
            _ClientFailure: the client closed mid-request, sent malformed HTTP or a head too
                large, or was too slow.
        """
        loop = asyncio.get_running_loop()
        size = len(self.h11.trailing_data[0])  # a pipelined request's first bytes
        deadline = loop.time() + HEAD_TIMEOUT if first or size else None
        while (event := self._poll()) is None:
            waited = IDLE_TIMEOUT if deadline is None else deadline - loop.time()
            try:
                async with asyncio.timeout(waited):
                    data = await self.reader.read(READ_SIZE)
            except TimeoutError:
                if deadline is None:
                    raise _ClientFailure(f"the client was silent for {IDLE_TIMEOUT:g}s") from None
                raise _ClientFailure(f"no whole request head within {HEAD_TIMEOUT:g}s") from None
            except OSError:
                data = b""
            if deadline is None:
                deadline = loop.time() + HEAD_TIMEOUT
            size += len(data)
            self.h11.receive_data(data)
        if not isinstance(event, h11.Request):
            return event
        # h11 bounds only a head still incomplete: one that came whole in a read may be longer
        if size > MAX_HEAD and size - len(self.h11.trailing_data[0]) > MAX_HEAD:
            raise _ClientFailure(f"request head over {MAX_HEAD} bytes", 431)
        names = {name for name, _ in event.headers}
        if b"content-length" in names and b"transfer-encoding" in names:
            raise _ClientFailure("both Content-Length and Transfer-Encoding", 400)
        return event

    async def _next_event(self) -> h11.Event:
        """The next event of a request's body from the client.

        Raises:
            _ClientFailure: the client closed mid-request, sent malformed HTTP, or was silent
                for IDLE_TIMEOUT.
        """
        while (event := self._poll()) is None:
            try:
                async with asyncio.timeout(IDLE_TIMEOUT):
                    data = await self.reader.read(READ_SIZE)
            except TimeoutError:
                raise _ClientFailure(f"the client was silent for {IDLE_TIMEOUT:g}s") from None
            except OSError:
                data = b""
            self.h11.receive_data(data)
        return event

    def _poll(self) -> h11.Event | None:
        """The client's next event when what was read holds it, else None.

        Raises:
            _ClientFailure: the client closed mid-request or sent malformed HTTP.
        """
        try:
            event = self.h11.next_event()
        except h11.RemoteProtocolError as error:
            if self.reader.at_eof():
                raise _ClientFailure("the client closed the connection mid-request") from None
            if error.error_status_hint == 431:
                raise _ClientFailure(f"request head over {MAX_HEAD} bytes", 431) from None
            raise _ClientFailure(f"malformed request: {error}", error.error_status_hint) from None
        if event is h11.NEED_DATA:
            return None
        assert isinstance(event, h11.Event)  # never PAUSED: a cycle at a time
        return event

    async def _send(self, event: h11.Event, flush: bool = True) -> None:
        """Send `event` to the client; without `flush`, its bytes wait for the next flush
        (the next wait for the service, or the response's end): one write for a response that
        came in one read.

        Raises:
            _ClientFailure: the client is gone.
            _UpstreamFailure: the service's answer cannot be relayed.
        """
        try:
            data = self.h11.send(event)
        except h11.LocalProtocolError as error:
            raise _UpstreamFailure(f"the service's answer cannot be relayed: {error}") from None
        if data:
            self.unsent.append(data)
        if flush:
            await self._flush()

    async def _flush(self) -> None:
        """Write what `_send` kept back.

        Raises:
            _ClientFailure: the client is gone.
        """
        if not self.unsent:
            return
        data = b"".join(self.unsent)
        self.unsent.clear()
        try:
            self.writer.write(data)
            await self.writer.drain()
        except OSError:
            raise _ClientFailure("the client closed the connection mid-response") from None

    async def _answer_error(
        self, status: int, why: str, close: bool, exchange: Exchange | None = None
    ) -> None:
        """Answer `status` with `why` as its text, recorded in `exchange` when given; a client
        gone meanwhile is let go."""
        body = f"pilot traffic monitor: {why}\n".encode()
        headers = [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
            *([("Connection", "close")] if close else []),
        ]
        reason = http.HTTPStatus(status).phrase
        if exchange is not None:
            await self._identity()  # while the caller waits: its socket is surely there
            exchange.status, exchange.reason, exchange.response_headers = status, reason, headers
            exchange.response_body = Body(self.proxy.body_limit)
            exchange.response_body.add(body)
        if self.h11.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        try:
            await self._send(
                h11.Response(status_code=status, headers=headers, reason=reason), False
            )
            await self._send(h11.Data(data=body), flush=False)
            await self._send(h11.EndOfMessage())
        except _Failure:
            pass

    async def _identity(self) -> str | None:
        """The calling local service's name, as `identify` tells (None when it fails or has
        not told within IDENTIFY_TIMEOUT)."""
        if self.identity is None:
            return None
        try:
            if self.identity.done():
                return self.identity.result()
            return await asyncio.wait_for(self.identity, IDENTIFY_TIMEOUT)
        except Exception as error:
            self.proxy.log.debug(
                f"traffic {self.proxy.service}: {self.name}: identify: {_one_line(error)}"
            )
            self.identity = None
            return None

    def _drop_upstream(self, graceful: bool = False) -> None:
        if self.upstream is not None:
            self.upstream.broken = True
            self.upstream.close(graceful)
            self.upstream = None


def _discard(task: asyncio.Future[Any]) -> None:
    """Cancel `task`, or take its exception when it is done (asyncio would report it)."""
    if task.done() and not task.cancelled():
        task.exception()
    task.cancel()


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Pass what `reader` receives on to `writer` until it ends or either side fails."""
    try:
        while data := await reader.read(READ_SIZE):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass


def decode_headers(headers: Iterable[tuple[bytes, bytes]]) -> Headers:
    """`headers` as text for the record, each name interned: the same few names recur in
    every exchange a store keeps."""
    return [
        (sys.intern(name.decode("latin-1")), value.decode("latin-1")) for name, value in headers
    ]


def _upgrade(exchange: Exchange) -> str:
    """The protocol a switch went to: the Upgrade header's, else the method (CONNECT)."""
    for headers in (exchange.response_headers, exchange.request_headers):
        for name, value in headers:
            if name.lower() == "upgrade":
                return value
    return exchange.method


def _why(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return f"no answer within {CONNECT_TIMEOUT:g}s"
    return getattr(error, "strerror", None) or str(error) or type(error).__name__


def _one_line(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}".replace("\n", " ")
