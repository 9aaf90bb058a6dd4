"""The one way pilot calls Consul: py-consul's blocking calls on one shared set of worker
threads, awaited by coroutines on the event loop.

Workers only run a call and hand back its result; every piece of state lives on the loop.
Each worker keeps its own clients (requests sessions are not shared between threads), and a
worker idle for `IDLE_SECONDS` ends, closing them: a pilot at rest keeps one thread per long
poll actually waiting, and a burst (a watch replaced while its poll still waits) leaves
nothing behind. Long polls are bounded by a semaphore that always leaves `SHORT_WORKERS` for
registrations, check updates and session renewals.

A long poll has a deadline of its own on the loop (its wait, Consul's wait/16 of jitter and
`POLL_MARGIN`): an agent that holds a blocking query past it (an RPC to a server stuck after
a partition) gets the poll abandoned as a transport error. The abandoned call frees its slot
at once; its worker no longer counts against the bound and ends when the call returns.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from pilot.consul.client import ConsulTarget, make_client
from pilot.consul.errors import PollAbandoned, Reachability, describe, is_transport_error
from pilot.log import Log

T = TypeVar("T")
SHORT_WORKERS = 4
MAX_LONG_POLLS = 64
IDLE_SECONDS = 5.0
POLL_MARGIN = 5.0  # seconds a long poll may run past its wait and jitter before it is abandoned

_Work = tuple[Future[Any], Callable[[Any], Any], float]


class ConsulCalls:
    """Runs Consul calls for one pilot; `close()` abandons whatever is still running."""

    def __init__(self, target: ConsulTarget, log: Log, long_polls: int = MAX_LONG_POLLS) -> None:
        self._target = target
        self.reachability = Reachability(
            f"{target.host}:{target.port}", log, asyncio.get_running_loop().time
        )
        self._limit = long_polls + SHORT_WORKERS
        self._long_polls = asyncio.Semaphore(long_polls)
        self._lock = threading.Lock()
        self._workers = 0
        # The most recently idle worker is handed work first, so that the others stay idle
        # long enough to end.
        self._idle: list[queue.SimpleQueue[_Work | None]] = []
        self._backlog: collections.deque[_Work] = collections.deque()
        self._running: set[Future[Any]] = set()
        self._abandoned: set[Future[Any]] = set()  # still running on a worker, given up on
        self._closed = False

    async def call(
        self, operation: Callable[[Any], T], timeout: float = 10.0, deadline: float | None = None
    ) -> T:
        """`operation(client)` on a worker, its client's calls bounded by `timeout` seconds;
        given up on (PollAbandoned) after `deadline` seconds, if one is given."""
        if self._closed:
            raise RuntimeError("Consul calls are closed")
        future: Future[T] = Future()
        work: _Work = (future, operation, timeout)
        with self._lock:
            if self._idle:
                self._idle.pop().put(work)
            elif self._workers < self._limit:
                self._workers += 1
                worker = threading.Thread(target=self._work, args=(work,), daemon=True)
                worker.start()
            else:
                self._backlog.append(work)
        try:
            result = await self._result(future, deadline)
        except Exception as error:
            if is_transport_error(error):
                self.reachability.failed(self.describe(error))
            raise
        self.reachability.answered()
        return result

    def describe(self, error: BaseException) -> str:
        """`error` in one short line, the token masked."""
        return describe(error, (self._target.token,))

    async def poll(self, operation: Callable[[Any], T], wait: float, timeout: float = 10.0) -> T:
        """A blocking query waiting up to `wait` seconds: like `call`, but counted against the
        long-poll bound, and abandoned (PollAbandoned) when no answer came in time."""
        async with self._long_polls:
            return await self.call(operation, timeout, wait + wait / 16 + POLL_MARGIN)

    async def _result(self, future: Future[T], deadline: float | None) -> T:
        if deadline is None:
            return await asyncio.wrap_future(future)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), deadline)
        except TimeoutError:
            with self._lock:
                if future in self._running:
                    self._running.remove(future)
                    self._abandoned.add(future)
                    self._workers -= 1
            raise PollAbandoned(f"no answer within {deadline:.0f}s") from None

    def close(self) -> None:
        """Run nothing more; calls in flight end with their own timeouts."""
        with self._lock:
            self._closed = True
            for inbox in self._idle:
                inbox.put(None)
            self._idle.clear()

    def _work(self, first: _Work) -> None:
        clients: dict[float, Any] = {}
        inbox: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        work: _Work | None = first
        try:
            while work is not None:
                future, operation, timeout = work
                with self._lock:
                    started = future.set_running_or_notify_cancel()
                    if started:
                        self._running.add(future)
                if not started:
                    work = self._next(inbox)
                    continue
                try:
                    client = clients.get(timeout)
                    if client is None:
                        client = clients[timeout] = make_client(self._target, timeout)
                    result = operation(client)
                except BaseException as error:
                    if self._given_up(future):
                        return
                    work = self._next(inbox)
                    future.set_exception(error)
                else:
                    if self._given_up(future):
                        return
                    # Idle again before the caller hears back, so that the call it makes next
                    # goes to this worker and the others may end.
                    work = self._next(inbox)
                    future.set_result(result)
                if work is None:
                    work = self._wait(inbox)
        finally:
            for client in clients.values():
                with contextlib.suppress(Exception):
                    client.http.session.close()

    def _given_up(self, future: Future[Any]) -> bool:
        """Whether the caller abandoned `future`: then its worker, no longer counted, ends."""
        with self._lock:
            if future in self._abandoned:
                self._abandoned.remove(future)
                return True
            self._running.discard(future)
            return False

    def _next(self, inbox: queue.SimpleQueue[_Work | None]) -> _Work | None:
        """A call waiting for a worker; else this worker joins the idle ones."""
        with self._lock:
            if self._backlog:
                return self._backlog.popleft()
            if not self._closed:
                self._idle.append(inbox)
            else:
                inbox.put(None)
        return None

    def _wait(self, inbox: queue.SimpleQueue[_Work | None]) -> _Work | None:
        """The next call handed to this idle worker; None when it is to end."""
        try:
            work = inbox.get(timeout=IDLE_SECONDS)
        except queue.Empty:
            with self._lock:
                if inbox in self._idle:
                    self._idle.remove(inbox)
                    self._workers -= 1
                    return None
            work = inbox.get()  # handed a call just as the wait ended
        if work is None:
            with self._lock:
                self._workers -= 1
        return work
