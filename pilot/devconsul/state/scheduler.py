"""One thread that runs the registry's timed work: TTL expiries, session expiries, check
runs, deferred catalog syncs and the periodic reapers. Nothing polls: the thread sleeps until
the earliest timer is due or a new one comes first."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("pilot.devconsul")


class Timer:
    """A scheduled call; `cancel()` makes it a no-op."""

    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when, self.callback, self.cancelled = when, callback, False

    def cancel(self) -> None:
        """Do not run after all."""
        self.cancelled = True


class Scheduler:
    """A heap of timers served by one daemon thread; callbacks must not block for long."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Timer]] = []
        self._order = itertools.count()
        self._wakeup = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="consul-dev timers", daemon=True)

    def start(self) -> None:
        """Start the timer thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the timer thread; pending timers never run."""
        with self._wakeup:
            self._stopping = True
            self._wakeup.notify()
        if self._thread.is_alive():
            self._thread.join(5)

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        """Run `callback` on the scheduler's thread in `delay` seconds."""
        timer = Timer(time.monotonic() + max(delay, 0.0), callback)
        with self._wakeup:
            heapq.heappush(self._heap, (timer.when, next(self._order), timer))
            if self._heap[0][2] is timer:
                self._wakeup.notify()
            if (
                len(self._heap) > 64
                and sum(e[2].cancelled for e in self._heap) > len(self._heap) // 2
            ):
                self._heap = [e for e in self._heap if not e[2].cancelled]
                heapq.heapify(self._heap)
        return timer

    def every(self, period: float, callback: Callable[[], None]) -> None:
        """Run `callback` every `period` seconds, the first time one period from now."""

        def tick() -> None:
            callback()
            self.call_later(period, tick)

        self.call_later(period, tick)

    def _run(self) -> None:
        while True:
            with self._wakeup:
                while not self._stopping:
                    now = time.monotonic()
                    if self._heap and self._heap[0][0] <= now:
                        break
                    self._wakeup.wait(self._heap[0][0] - now if self._heap else None)
                if self._stopping:
                    return
                timer = heapq.heappop(self._heap)[2]
            if timer.cancelled:
                continue
            try:
                timer.callback()
            except Exception:
                log.exception("timed work failed")
