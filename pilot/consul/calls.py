"""The one way pilot calls Consul: py-consul's blocking calls on one shared pool of worker
threads, awaited by coroutines on the event loop.

Workers only run the call and return its result; every piece of state lives on the loop. Each
worker keeps its own client (requests sessions are not shared between threads). A long poll
holds a worker for up to its `wait`, so long polls are bounded by a semaphore that always
leaves `SHORT_WORKERS` free for registrations, check updates and session renewals.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from pilot.consul.client import ConsulTarget, make_client

T = TypeVar("T")
SHORT_WORKERS = 4
MAX_LONG_POLLS = 64


class ConsulCalls:
    """Runs Consul calls for one pilot; `close()` abandons whatever is still running."""

    def __init__(self, target: ConsulTarget, long_polls: int = MAX_LONG_POLLS) -> None:
        self._target = target
        self._executor = ThreadPoolExecutor(
            max_workers=long_polls + SHORT_WORKERS, thread_name_prefix="consul"
        )
        self._long_polls = asyncio.Semaphore(long_polls)
        self._local = threading.local()

    async def call(self, operation: Callable[[Any], T], timeout: float = 10.0) -> T:
        """`operation(client)` on a worker, its client's calls bounded by `timeout` seconds."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._run, operation, timeout)

    async def poll(self, operation: Callable[[Any], T], timeout: float = 10.0) -> T:
        """A blocking query: like `call`, but counted against the long-poll bound."""
        async with self._long_polls:
            return await self.call(operation, timeout)

    def close(self) -> None:
        """Run nothing more; calls in flight end with their own timeouts."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _run(self, operation: Callable[[Any], T], timeout: float) -> T:
        clients: dict[float, Any] | None = getattr(self._local, "clients", None)
        if clients is None:
            clients = self._local.clients = {}
        client = clients.get(timeout)
        if client is None:
            client = clients[timeout] = make_client(self._target, timeout)
        return operation(client)
