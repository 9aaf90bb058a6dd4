"""Which local service made a connection to the recording proxy, as `identify` tells: asked
once per connection, when its first request is in (a connection that sends none costs no
look-up), and waited for before its first answer is relayed (a caller may close its socket as
soon as it has the answer, and then it cannot be found)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from pilot.log import Log
from pilot.traffic import limits

Address = tuple[str, int]
Identify = Callable[[Address, Address], Awaitable[str | None]]


class Caller:
    """The answer of `identify` (when given) about one client connection; `where` begins the
    debug line about a failure."""

    def __init__(self, identify: Identify | None, log: Log, where: str) -> None:
        self._identify, self._log, self._where = identify, log, where
        self._answer: asyncio.Future[str | None] | None = None

    def ask(self, client: Address, server: Address) -> None:
        """Ask who made the connection from `client` to `server` (once)."""
        if self._identify is not None and self._answer is None:
            self._answer = asyncio.ensure_future(self._identify(client, server))

    async def name(self) -> str | None:
        """The calling local service's name (None when `identify` fails, or has not told
        within IDENTIFY_TIMEOUT)."""
        if self._answer is None:
            return None
        try:
            if self._answer.done():
                return self._answer.result()
            return await asyncio.wait_for(self._answer, limits.IDENTIFY_TIMEOUT)
        except Exception as error:
            self._log.debug(f"{self._where}: identify: {one_line(error)}")
            self._answer = None
            return None

    def forget(self) -> None:
        """Drop the question (the connection is closing)."""
        if self._answer is not None:
            discard(self._answer)


def discard(task: asyncio.Future[Any]) -> None:
    """Cancel `task`, or take its exception when it is done (asyncio would report it)."""
    if task.done() and not task.cancelled():
        task.exception()
    task.cancel()


def one_line(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}".replace("\n", " ")
