"""Restart backoff driven by a fake clock: doubling, capped, back to `initial` after a long run."""

from __future__ import annotations

from pilot.process.backoff import Backoff


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Runs:
    """Runs of one job on a fake clock: each run lasts what the test says, then asks the backoff."""

    def __init__(self, backoff: Backoff, clock: FakeClock) -> None:
        self.backoff, self.clock = backoff, clock

    def run_for(self, seconds: float) -> float:
        """A run of `seconds` ends; the delay before the next run passes too. Returns the delay."""
        started = self.clock.now
        self.clock.advance(seconds)
        delay = self.backoff.delay_after_run(self.clock.now - started)
        self.clock.advance(delay)
        return delay


def make(initial: float = 1.0, maximum: float = 30.0, reset_after: float = 10.0) -> Runs:
    return Runs(Backoff(initial, maximum, reset_after), FakeClock())


def test_short_runs_double_the_delay_from_initial() -> None:
    """Runs shorter than `reset` get delays 1, 2, 4, 8 (doubling from `initial`)."""
    runs = make()
    assert [runs.run_for(0.5) for _ in range(4)] == [1.0, 2.0, 4.0, 8.0]


def test_delay_is_capped_at_maximum() -> None:
    """Doubling stops at `max` and stays there while runs stay short."""
    runs = make(maximum=5.0)
    assert [runs.run_for(0.1) for _ in range(6)] == [1.0, 2.0, 4.0, 5.0, 5.0, 5.0]


def test_a_run_lasting_reset_brings_the_delay_back_to_initial_then_doubling_resumes() -> None:
    """After short runs (1, 2, 4), a run of at least `reset` gives `initial` again, then 2, 4."""
    runs = make()
    assert [runs.run_for(0.5) for _ in range(3)] == [1.0, 2.0, 4.0]
    assert runs.run_for(10.0) == 1.0  # exactly `reset` counts as long enough
    assert [runs.run_for(0.5) for _ in range(2)] == [2.0, 4.0]
    assert runs.run_for(60.0) == 1.0
    assert runs.run_for(0.5) == 2.0


def test_a_long_run_resets_a_delay_already_at_the_cap() -> None:
    """A job that reached `max` comes back to `initial` after one run of at least `reset`."""
    runs = make(maximum=4.0)
    assert [runs.run_for(0.1) for _ in range(4)] == [1.0, 2.0, 4.0, 4.0]
    assert runs.run_for(11.0) == 1.0
    assert runs.run_for(0.1) == 2.0


def test_a_run_just_under_reset_keeps_doubling() -> None:
    """A run shorter than `reset`, however close, does not reset the delay."""
    runs = make()
    assert [runs.run_for(0.5) for _ in range(2)] == [1.0, 2.0]
    assert runs.run_for(9.99) == 4.0


def test_reset_forgets_earlier_failures() -> None:
    """`reset()` (a new trigger or a manual start) brings the next delay back to `initial`."""
    runs = make()
    assert [runs.run_for(0.5) for _ in range(3)] == [1.0, 2.0, 4.0]
    runs.backoff.reset()
    assert [runs.run_for(0.5) for _ in range(2)] == [1.0, 2.0]
