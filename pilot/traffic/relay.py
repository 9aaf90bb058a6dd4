"""One client connection through the recording proxy: its requests one after the other, each
passed on to the service over the connection's upstream, its response relayed back, and both
recorded as an Exchange."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NoReturn

import h11

from pilot.log import Log
from pilot.traffic import limits
from pilot.traffic.caller import Caller, Identify, discard
from pilot.traffic.downstream import ClientConnection, error_answer
from pilot.traffic.failures import ClientFailure, Failure, UpstreamFailure
from pilot.traffic.store import Body, Exchange, Headers, TrafficStore, mask_headers
from pilot.traffic.upstream import Upstream

IDEMPOTENT = frozenset({b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"})
Switch = h11.InformationalResponse | h11.Response  # a 101, or the answer to a CONNECT


@dataclass(frozen=True, slots=True)
class Route:
    """Where a proxy's clients go, and where their exchanges are recorded."""

    service: str
    upstream: tuple[str, int]
    store: TrafficStore
    log: Log
    body_limit: int
    unmasked: frozenset[str]
    identify: Identify | None


class Relay:
    """One client connection and its upstream connection."""

    def __init__(self, route: Route, client: ClientConnection) -> None:
        self.route, self.client = route, client
        self.upstream: Upstream | None = None
        self.caller = Caller(route.identify, route.log, f"traffic {route.service}: {client.name}")

    async def serve(self) -> None:
        """Pass requests on until either side closes, or the client stays silent too long."""
        first = True
        while True:
            try:
                event = await self.client.next_request(first)
            except ClientFailure as failure:
                if failure.status is not None:  # a malformed head: answered, not recorded
                    await self._answer_error(failure.status, str(failure), close=True)
                return
            if not isinstance(event, h11.Request):
                return  # the client closed between requests
            if first:
                self.caller.ask(self.client.address, self.client.local_address())
            first = False
            if not await self._exchange(event):
                return
            self.client.h11.start_next_cycle()

    async def close(self, graceful: bool) -> None:
        """Close both connections; with `graceful`, once the client has had the last bytes."""
        self.caller.forget()
        self._drop_upstream()
        await self.client.close(graceful)

    async def _exchange(self, request: h11.Request) -> bool:
        """Forward `request`, relay its answer and record both; whether the connection may
        carry another request."""
        started, began = time.time(), time.monotonic()
        exchange = Exchange(
            service=self.route.service,
            started=started,
            client=self.client.name,
            method=request.method.decode("latin-1"),
            url=request.target.decode("latin-1"),
            http_version=request.http_version.decode("latin-1"),
            request_headers=self._recorded(request.headers.raw_items()),
            request_body=Body(self.route.body_limit),
        )
        switch: Switch | None = None
        broken = False
        try:
            switch = await self._relay(request, exchange)
        except Failure as failure:
            exchange.failed(str(failure))
            broken = True
        exchange.finished(time.monotonic() - began, await self.caller.name())
        self.route.store.add(exchange)
        if exchange.error is not None:
            self.route.log.debug(
                f"traffic {self.route.service}: {self.client.name}: "
                f"{exchange.method} {exchange.url}: {exchange.error}"
            )
        if switch is not None and self.upstream is not None:
            await self._pipe(self.upstream)
            return False
        if self.upstream is not None and not self.upstream.reusable():
            self._drop_upstream(graceful=True)
        elif self.upstream is not None:
            self.upstream.start_next_cycle()
        return not broken and self.client.done()

    async def _relay(self, request: h11.Request, exchange: Exchange) -> Switch | None:
        """Pass the exchange on; the service's switch of protocols (relayed) when it made one.

        Raises:
            Failure: the exchange broke off.
        """
        reused = self.upstream is not None
        upstream = await self._connect(exchange)
        if upstream is None:
            return None
        headers = list(request.headers.raw_items())
        if not any(name == b"host" for name, _ in request.headers):  # an HTTP/1.0 client's
            host, port = self.route.upstream
            headers.append((b"Host", f"{host}:{port}".encode()))
        forward = h11.Request(method=request.method, target=request.target, headers=headers)
        await upstream.send(forward)
        try:
            first = self.client.poll()
        except ClientFailure as failure:
            await self._client_failed(failure, exchange)
        if isinstance(first, h11.EndOfMessage):  # no body (a GET): the response is all there is
            retry = reused and request.method in IDEMPOTENT
            switch = await self._exchange_bodiless(upstream, forward, exchange, retry)
        else:
            switch = await self._exchange_body(upstream, exchange, first)
        if switch is not None:
            await self.client.send(switch)
        return switch

    async def _exchange_bodiless(
        self, upstream: Upstream, forward: h11.Request, exchange: Exchange, retry: bool
    ) -> Switch | None:
        """End the request `forward` and relay its response; with `retry`, send it once more
        on a new connection when the service closed its kept-alive one without answering (it
        may have closed it, idle, just as the request went out)."""
        await upstream.send(h11.EndOfMessage())
        try:
            return await self._download(upstream, exchange)
        except UpstreamFailure as failure:
            if not (retry and exchange.status is None):
                return await self._upstream_failed(failure, exchange, None)
        self._drop_upstream()
        upstream_again = await self._connect(exchange)
        if upstream_again is None:
            return None
        await upstream_again.send(forward)
        return await self._exchange_bodiless(upstream_again, forward, exchange, retry=False)

    async def _exchange_body(
        self, upstream: Upstream, exchange: Exchange, first: h11.Event | None
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
            discard(download)
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
        if isinstance(failure, ClientFailure) and failure.status is not None:
            await self._answer_error(failure.status, str(failure), True, exchange)
        raise failure

    async def _upstream_failed(
        self, failure: BaseException, exchange: Exchange, upload: asyncio.Future[None] | None
    ) -> Switch | None:
        """Answer 502 for the service's `failure` when nothing was relayed yet (once the
        request is in, so that the connection may go on); else break the exchange off."""
        self._drop_upstream()
        relayed = self.client.h11.our_state is not h11.SEND_RESPONSE
        if not isinstance(failure, UpstreamFailure) or relayed:
            if upload is not None:
                discard(upload)
            raise failure
        if upload is not None:
            await upload
        exchange.failed(str(failure))
        await self._answer_error(502, str(failure), False, exchange)
        return None

    async def _connect(self, exchange: Exchange) -> Upstream | None:
        """The upstream connection, opened when there is none; None when the service cannot be
        reached (the client has been answered 502)."""
        if self.upstream is not None:
            return self.upstream
        host, port = self.route.upstream
        try:
            async with asyncio.timeout(limits.CONNECT_TIMEOUT):
                reader, writer = await asyncio.open_connection(host, port)
        except (OSError, TimeoutError) as error:
            why = f"cannot connect to the service at {host}:{port}: {_why(error)}"
            exchange.failed(why)
            waiting = self.client.h11.they_are_waiting_for_100_continue  # for a body it won't send
            if self.client.h11.their_state is h11.SEND_BODY and not waiting:
                await self._upload(None, exchange)
            await self._answer_error(502, why, waiting, exchange)
            return None
        self.upstream = Upstream(reader, writer)
        return self.upstream

    async def _upload(
        self, upstream: Upstream | None, exchange: Exchange, first: h11.Event | None = None
    ) -> None:
        """Pass the request body on to `upstream` (only record it without one), from its
        `first` event when that was taken already."""
        while True:
            event, first = first or await self.client.next_event(), None
            if isinstance(event, h11.Data):
                exchange.request_data(event.data)
            elif not isinstance(event, h11.EndOfMessage):
                raise ClientFailure("the client closed the connection mid-request")
            if upstream is not None:
                await upstream.send(event)
            if isinstance(event, h11.EndOfMessage):
                return

    async def _download(self, upstream: Upstream, exchange: Exchange) -> Switch | None:
        """Relay the response to the client, recording it; a switch of protocols is returned
        instead, unrelayed."""
        if upstream.broken:  # the request's head could not be sent
            raise UpstreamFailure("the service closed the connection")
        client = self.client
        while True:
            event = await upstream.next_event(client.flush)
            if isinstance(event, h11.InformationalResponse | h11.Response):
                # a head of its own: h11 sends HTTP/1.1, whatever the service's version
                event = type(event)(
                    status_code=event.status_code,
                    headers=event.headers.raw_items(),
                    reason=event.reason,
                )
            if isinstance(event, h11.InformationalResponse) and event.status_code != 101:
                await client.send(event)  # 100 Continue, 103 Early Hints
            elif isinstance(event, h11.InformationalResponse | h11.Response):
                await self.caller.name()  # while the caller waits: its socket is surely there
                reason = event.reason.decode("latin-1")
                headers = self._recorded(event.headers.raw_items())
                exchange.response_seen(event.status_code, reason, headers, self.route.body_limit)
                if upstream.h11.their_state is h11.SWITCHED_PROTOCOL:
                    exchange.switched()
                    return event
                await client.send(event, flush=False)
            elif isinstance(event, h11.Data):
                exchange.response_data(event.data)
                await client.send(event, flush=False)
            elif isinstance(event, h11.EndOfMessage):
                if client.h11.their_http_version != b"1.1":
                    event = h11.EndOfMessage()  # no trailers without chunked framing
                await client.send(event)
                return None

    async def _pipe(self, upstream: Upstream) -> None:
        """Pass bytes both ways, those read past the switch's heads first, until either side
        closes."""
        early, _ = self.client.h11.trailing_data
        late, _ = upstream.h11.trailing_data
        if early:
            upstream.writer.write(early)
        if late:
            self.client.writer.write(late)
        pipes = (
            asyncio.ensure_future(_copy(self.client.reader, upstream.writer)),
            asyncio.ensure_future(_copy(upstream.reader, self.client.writer)),
        )
        try:
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pipe in pipes:
                pipe.cancel()
        self._drop_upstream(graceful=True)  # what was written still reaches the service

    async def _answer_error(
        self, status: int, why: str, close: bool, exchange: Exchange | None = None
    ) -> None:
        """Answer `status` with `why` as its text, recorded in `exchange` when given."""
        answer = error_answer(status, why, close)
        if exchange is not None:
            await self.caller.name()  # while the caller waits: its socket is surely there
            reason, headers, body = answer
            exchange.response_seen(status, reason, headers, self.route.body_limit)
            exchange.response_data(body)
        await self.client.answer_error(status, answer)

    def _recorded(self, headers: Iterable[tuple[bytes, bytes]]) -> Headers:
        return mask_headers(decode_headers(headers), self.route.unmasked)

    def _drop_upstream(self, graceful: bool = False) -> None:
        if self.upstream is not None:
            self.upstream.broken = True
            self.upstream.close(graceful)
            self.upstream = None


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Pass what `reader` receives on to `writer` until it ends or either side fails."""
    try:
        while data := await reader.read(limits.READ_SIZE):
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


def _why(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return f"no answer within {limits.CONNECT_TIMEOUT:g}s"
    return getattr(error, "strerror", None) or str(error) or type(error).__name__
