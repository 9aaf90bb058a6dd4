"""Delays between restarts: doubling from `initial` to `max`, reset after a long enough run."""

from __future__ import annotations


class Backoff:
    """Restart delays for one job. Times are passed in, so tests need no clock."""

    def __init__(self, initial: float, maximum: float, reset_after: float) -> None:
        self.initial, self.maximum, self.reset_after = initial, maximum, reset_after
        self._next = initial

    def delay_after_run(self, uptime: float) -> float:
        """The delay before restarting a run that lasted `uptime` seconds."""
        if uptime >= self.reset_after:
            self._next = self.initial
        delay = self._next
        self._next = min(self._next * 2, self.maximum)
        return delay

    def reset(self) -> None:
        """Forget earlier failures (a new trigger or a manual start)."""
        self._next = self.initial
