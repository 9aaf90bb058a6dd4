"""Quiescence with an injected clock: bursts collapse into one render, streams render by max."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable

from pilot.render.quiescence import Quiescence


class FakeClock:
    """A clock and scheduler that advance only when told."""

    def __init__(self) -> None:
        self.now = 0.0
        self._timers: list[tuple[float, int, Callable[[], None], list[bool]]] = []
        self._seq = 0

    def schedule(self, at: float, fn: Callable[[], None]) -> FakeHandle:
        cancelled = [False]
        self._seq += 1
        heapq.heappush(self._timers, (at, self._seq, fn, cancelled))
        return FakeHandle(cancelled)

    def advance(self, seconds: float) -> None:
        end = self.now + seconds
        while self._timers and self._timers[0][0] <= end:
            at, _, fn, cancelled = heapq.heappop(self._timers)
            self.now = at
            if not cancelled[0]:
                fn()
        self.now = end


class FakeHandle:
    def __init__(self, cancelled: list[bool]) -> None:
        self._cancelled = cancelled

    def cancel(self) -> None:
        self._cancelled[0] = True


def make(minimum: float, maximum: float) -> tuple[Quiescence, FakeClock, list[float]]:
    clock = FakeClock()
    renders: list[float] = []
    quiet = Quiescence(
        minimum, maximum, lambda: clock.now, clock.schedule, lambda: renders.append(clock.now)
    )
    return quiet, clock, renders


def test_burst_within_min_renders_once() -> None:
    """50 changes 10 ms apart with min 1 s give exactly one render, min after the last change."""
    quiet, clock, renders = make(1.0, 10.0)
    for _ in range(50):
        quiet.change()
        clock.advance(0.01)
    clock.advance(5)
    assert len(renders) == 1
    assert abs(renders[0] - 1.49) < 1e-6


def test_steady_stream_still_renders_by_max() -> None:
    """Changes every 0.5 s with min 1 s and max 3 s render at 3 s, 6 s, … rather than never."""
    quiet, clock, renders = make(1.0, 3.0)
    for _ in range(20):  # 10 s of changes
        quiet.change()
        clock.advance(0.5)
    assert len(renders) >= 3
    assert abs(renders[0] - 3.0) < 1e-9
    assert all(later - earlier <= 3.5 for earlier, later in itertools.pairwise(renders))


def test_zero_min_renders_at_once() -> None:
    """With min 0 a change renders at the same instant."""
    quiet, clock, renders = make(0.0, 0.0)
    quiet.change()
    clock.advance(0)
    assert renders == [0.0]


def test_cancel_drops_a_pending_render() -> None:
    """A cancelled quiescence renders nothing."""
    quiet, clock, renders = make(1.0, 4.0)
    quiet.change()
    quiet.cancel()
    clock.advance(10)
    assert renders == [] and not quiet.pending
