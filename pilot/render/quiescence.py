"""Quiescence: render once a template's data has been quiet for `min`, never later than `max`
after the first change. The clock and the scheduler are passed in, so tests need no sleeps."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class Handle(Protocol):
    def cancel(self) -> None: ...


Schedule = Callable[[float, Callable[[], None]], Handle]


class Quiescence:
    """Turns a stream of changes into renders: each change (re)starts a `min` timer, capped at
    `max` from the first change of the burst; `fire` runs when the timer expires."""

    def __init__(
        self,
        minimum: float,
        maximum: float,
        clock: Callable[[], float],
        schedule: Schedule,
        fire: Callable[[], None],
    ) -> None:
        self.minimum, self.maximum = minimum, max(maximum, minimum)
        self._clock, self._schedule, self._fire = clock, schedule, fire
        self._first: float | None = None
        self._timer: Handle | None = None

    @property
    def pending(self) -> bool:
        return self._timer is not None

    def change(self) -> None:
        """Data changed: schedule (or postpone) the render."""
        now = self._clock()
        if self._first is None:
            self._first = now
        due = min(now + self.minimum, self._first + self.maximum)
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._schedule(due, self._expire)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._first = None, None

    def _expire(self) -> None:
        self._timer, self._first = None, None
        self._fire()
