"""The one way pilot calls Consul: HTTP requests on pilot's event loop (pilot.http.client), over a
small pool of kept-alive connections to one agent.

A request takes the connection freed last, or opens one: one connection per call in flight, at
most `long_polls + SHORT_CALLS` at once. Long polls are bounded by a semaphore of their own to
`long_polls`, so registrations, check updates and session renewals always find a connection.
A connection left idle for IDLE_SECONDS is closed at the next call.

A long poll's whole request has a deadline (its wait, Consul's wait/16 of jitter and
POLL_MARGIN): an agent that holds a blocking query past it (an RPC to a server stuck after a
partition, a proxy that trickles bytes) gets the poll abandoned as a transport error, its
connection closed and its place in the pool free at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

from pilot.consul.client import ConsulTarget
from pilot.consul.errors import ConsulUnreachable, Reachability, describe, reason, redact
from pilot.http.client import Client
from pilot.http.exchange import ClientError, Reply
from pilot.http.limits import Limits
from pilot.log import Log

if TYPE_CHECKING:
    import ssl

SHORT_CALLS = 4
MAX_LONG_POLLS = 64
IDLE_SECONDS = 5.0
POLL_MARGIN = 5.0  # seconds a long poll may run past its wait and jitter before it is abandoned
LIMITS = Limits(max_body=64 << 20)  # a large catalog or health answer is MiBs

Params = Sequence[tuple[str, str | int]]


class ConsulCalls:
    """Requests to one Consul agent for one pilot; `close()` closes every connection."""

    def __init__(self, target: ConsulTarget, log: Log, long_polls: int = MAX_LONG_POLLS) -> None:
        self.target = target
        loop = asyncio.get_running_loop()
        self._clock = loop.time
        self.reachability = Reachability(f"{target.host}:{target.port}", log, loop.time)
        self.size = long_polls + SHORT_CALLS
        self._slots = asyncio.Semaphore(self.size)
        self._long_polls = asyncio.Semaphore(long_polls)
        self._free: list[tuple[Client, float]] = []  # with the time each was freed, oldest first
        self._busy: set[Client] = set()
        self._headers: list[tuple[str, str]] = []
        self._bad_token = False
        if target.token:
            self._headers.append(("X-Consul-Token", target.token))
            self._bad_token = not (target.token.isascii() and target.token.isprintable())
        self._closed = False

    @property
    def connections(self) -> int:
        """Connections open or ready to be opened: one per call in flight, plus idle ones."""
        return len(self._busy) + len(self._free)

    async def request(
        self,
        method: str,
        path: str,
        params: Params = (),
        body: bytes = b"",
        timeout: float = 10.0,
        wait: float | None = None,
    ) -> Reply:
        """`method path?params` answered within `timeout` seconds; with `wait`, a blocking query
        waiting up to `wait` seconds, counted against the long-poll bound, whose deadline is
        its wait, jitter and POLL_MARGIN instead. Any HTTP status is an answer.

        Raises:
            ConsulUnreachable: no answer (said once by `reachability`).
        """
        target = quote(path, safe="/:") + (f"?{urlencode(params)}" if params else "")
        if wait is None:
            return await self._send(method, target, body, timeout)
        async with self._long_polls:
            deadline = round(wait + wait / 16 + POLL_MARGIN, 1)
            return await self._send(method, target, body, deadline)

    def describe(self, error: BaseException) -> str:
        """`error` in one short line, the token masked."""
        return describe(error, (self.target.token,))

    async def close(self) -> None:
        """Close every connection, those of calls in flight too; no call is made after."""
        self._closed = True
        clients = [client for client, _ in self._free] + list(self._busy)
        self._free.clear()
        for client in clients:
            await client.close()

    async def _send(self, method: str, target: str, body: bytes, timeout: float) -> Reply:
        if self._bad_token:
            raise ValueError("the Consul token holds a control character (token not shown)")
        async with self._slots:
            if self._closed:
                raise RuntimeError("Consul calls are closed")
            await self._close_idle()
            try:
                client = self._take()
                self._busy.add(client)
                try:
                    reply = await client.request(method, target, body, self._headers, timeout)
                except ClientError as error:
                    failure = redact(reason(error), (self.target.token,))
                    raise ConsulUnreachable(failure) from None
                except BaseException:
                    await client.close()  # cancelled mid-exchange: the connection is unusable
                    raise
                finally:
                    self._busy.discard(client)
                    if not self._closed:
                        self._free.append((client, self._clock()))
            except ConsulUnreachable as error:
                self.reachability.failed(str(error))
                raise error from None
        if reply.status < 500:
            self.reachability.answered()
        return reply

    def _take(self) -> Client:
        """The connection freed last (most likely still open), or a new one."""
        if self._free:
            return self._free.pop()[0]
        target = self.target
        try:
            tls = _tls(target) if target.scheme == "https" else None
        except (OSError, ValueError) as error:  # ssl.SSLError is an OSError
            raise ConsulUnreachable(f"TLS: cannot load a CA or certificate: {error}") from None
        return Client((target.host, target.port), LIMITS, tls=tls, server_name=target.server_name)

    async def _close_idle(self) -> None:
        idle_since = self._clock() - IDLE_SECONDS
        while self._free and self._free[0][1] < idle_since:
            client, _ = self._free.pop(0)
            await client.close()


def _tls(target: ConsulTarget) -> ssl.SSLContext:
    from pilot.http.tls import client_context

    return client_context(target.verify, target.cert)
