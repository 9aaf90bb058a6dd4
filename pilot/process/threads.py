"""Work that must not run on the event loop (parsing a large config, rendering a template),
on a thread of its own: one that ends with the work, so nothing idles behind it."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def in_thread(work: Callable[[], T], name: str) -> asyncio.Future[T]:
    """Run `work()` on a new daemon thread; its result (or exception) comes back on the loop.

    The future can be awaited with a bound and abandoned: the thread then runs to its end on
    its own, and its result is dropped.
    """
    loop = asyncio.get_running_loop()
    result: asyncio.Future[T] = loop.create_future()

    def settle(value: T | None, error: BaseException | None) -> None:
        if result.done():
            return
        if error is not None:
            result.set_exception(error)
        else:
            result.set_result(value)  # type: ignore[arg-type]

    def run() -> None:
        value: T | None = None
        error: BaseException | None = None
        try:
            value = work()
        except Exception as failure:
            error = failure
        with contextlib.suppress(RuntimeError):  # the loop is closed: pilot is exiting
            loop.call_soon_threadsafe(settle, value, error)

    threading.Thread(target=run, name=name, daemon=True).start()
    return result
