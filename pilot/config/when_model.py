"""What starts a job: an event, every one of several events, or an interval."""

from __future__ import annotations

from pilot.config.durations import SHORTEST_INTERVAL
from pilot.config.frozen import section
from pilot.config.kinds import Duration, Str, setting
from pilot.config.sections import ListOf, Obj
from pilot.events import GLOBAL, Code


@section
class Occurrence:
    """One of the events a `when: {all: [...]}` waits for."""

    source: str = setting(Str(), "event source (as when.source)")
    once: tuple[str, ...] = setting(
        ListOf(Str(), single_ok=True), "the event code (or any of these codes)"
    )


@section
class When:
    """What starts a job: an event (`source` with `once` or `each`), every one of several events
    (`all`), or an `interval`."""

    source: str | None = setting(
        Str(),
        "event source: global, a job's name, watch.<name>, "
        "template.<name>, SIGHUP, SIGUSR1 or SIGUSR2",
        None,
    )
    once: tuple[str, ...] | None = setting(
        ListOf(Str(), single_ok=True),
        "start on the first occurrence of this event code (or of any of these codes)",
        None,
    )
    each: tuple[str, ...] | None = setting(
        ListOf(Str(), single_ok=True),
        "start on every occurrence of this event code (or of any of these codes)",
        None,
    )
    all: tuple[Occurrence, ...] | None = setting(
        ListOf(Obj(Occurrence)),
        "start once every one of these events has occurred, in any order: [{source, once}, ...]",
        None,
    )
    timeout: float | None = setting(
        Duration(positive=True),
        "give up waiting after this long and emit exitFailed for the job",
        None,
    )
    interval: float | None = setting(
        Duration(minimum=SHORTEST_INTERVAL),
        "run periodically, every interval from the previous start (at least 100ms)",
        None,
    )

    @property
    def codes(self) -> tuple[str, ...]:
        """The event codes that start the job (empty unless it is event-triggered)."""
        return self.once or self.each or ()

    @property
    def events(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """Every (source, codes) the job waits for: one pair for `source` with `once`/`each`,
        one per `all` entry (each must occur), none for an interval."""
        if self.all is not None:
            return tuple((event.source, event.once) for event in self.all)
        return ((self.source, self.codes),) if self.source is not None else ()


STARTUP = When(source=GLOBAL, once=(Code.STARTUP.value,))
