"""A feed: what a store keeps, numbered in one sequence from 1, and the long poll over it.

    feed = Feed()
    line.seq = feed.add()                    # the store numbers what it keeps
    found, last = await feed.poll(lambda after: store.lines(after=after), after=0, wait=25)

`poll` answers at once when something numbered above `after` is kept, else waits up to `wait`
seconds for it; the follower passes `last` as its next `after`. The store keeps the things
(and drops old ones); the feed only numbers them and wakes those waiting."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TypeVar

_T = TypeVar("_T")


class Feed:
    """Numbers things as a store keeps them, and wakes whoever waits for a newer one. Lives on
    the event loop."""

    def __init__(self) -> None:
        self._last = 0
        self._added = asyncio.Event()

    @property
    def last(self) -> int:
        """The number of the newest thing (0 when none came yet)."""
        return self._last

    def add(self) -> int:
        """The number of one more thing; wakes those waiting for it."""
        self._last += 1
        self._added.set()
        self._added = asyncio.Event()
        return self._last

    async def wait(self, after: int, timeout: float) -> None:
        """Return once a thing numbered above `after` came, or after `timeout` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._last <= after:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            try:
                async with asyncio.timeout(remaining):
                    await self._added.wait()
            except TimeoutError:
                return

    async def poll(
        self, select: Callable[[int], Sequence[_T]], after: int, wait: float
    ) -> tuple[Sequence[_T], int]:
        """`select(after)` (what the store keeps above `after` that the follower wants) once it
        is not empty, or when `wait` seconds passed; with the number of the newest thing when
        it was selected."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            last = self._last
            found = select(after)
            remaining = deadline - loop.time()
            if found or remaining <= 0:
                return found, last
            await self.wait(last, remaining)
