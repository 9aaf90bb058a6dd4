"""The one table of events `(code, source)`, and the bus that delivers them in order.

Validation, triggers, publishers, metrics and the table in docs/configuration.md read
`SOURCES` and `Code` from here; no other module spells an event code.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from pilot.log import Log


class Code(enum.StrEnum):
    """Every event code pilot publishes."""

    STARTUP = "startup"
    SHUTDOWN = "shutdown"
    ENTER_MAINTENANCE = "enterMaintenance"
    EXIT_MAINTENANCE = "exitMaintenance"
    STARTED = "started"
    EXIT_SUCCESS = "exitSuccess"
    EXIT_FAILED = "exitFailed"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    STOPPING = "stopping"
    STOPPED = "stopped"
    ELECTED = "elected"
    DEMOTED = "demoted"
    FOLLOWING = "following"
    CHANGED = "changed"
    RENDERED = "rendered"
    RENDER_FAILED = "renderFailed"
    SIGHUP = "SIGHUP"
    SIGUSR1 = "SIGUSR1"
    SIGUSR2 = "SIGUSR2"


GLOBAL = "global"
WATCH_PREFIX = "watch."
TEMPLATE_PREFIX = "template."
SIGNAL_SOURCES = frozenset({Code.SIGHUP.value, Code.SIGUSR1.value, Code.SIGUSR2.value})


@dataclass(frozen=True)
class SourceKind:
    """One row of the table: a kind of source, how it is named, the codes it emits."""

    source: str  # how the docs name it
    codes: tuple[Code, ...]
    notes: str = ""


SOURCES: dict[str, SourceKind] = {
    "global": SourceKind(
        "`global`",
        (Code.STARTUP, Code.SHUTDOWN, Code.ENTER_MAINTENANCE, Code.EXIT_MAINTENANCE),
    ),
    "job": SourceKind(
        "a job's name",
        (
            Code.STARTED,
            Code.EXIT_SUCCESS,
            Code.EXIT_FAILED,
            Code.HEALTHY,
            Code.UNHEALTHY,
            Code.STOPPING,
            Code.STOPPED,
            Code.ELECTED,
            Code.DEMOTED,
            Code.FOLLOWING,
        ),
        "`following`: not the leader, and the leader changed",
    ),
    "watch": SourceKind(
        "`watch.<name>`",
        (Code.CHANGED, Code.HEALTHY, Code.UNHEALTHY),
        "`healthy`: at least one passing instance; `unhealthy`: none",
    ),
    "template": SourceKind("`template.<name>`", (Code.RENDERED, Code.RENDER_FAILED)),
    "signal": SourceKind(
        "`SIGHUP`, `SIGUSR1`, `SIGUSR2`",
        (Code.SIGHUP, Code.SIGUSR1, Code.SIGUSR2),
        "the signal's own name (sent to pilot)",
    ),
}

GLOBAL_CODES = frozenset(SOURCES["global"].codes)
JOB_CODES = frozenset(SOURCES["job"].codes)
WATCH_CODES = frozenset(SOURCES["watch"].codes)
TEMPLATE_CODES = frozenset(SOURCES["template"].codes)
# Jobs these start run during shutdown (hooks).
SHUTDOWN_CODES = frozenset({Code.SHUTDOWN, Code.STOPPING, Code.STOPPED})
# Elections run whether or not their job's process does.
ELECTION_CODES = frozenset({Code.ELECTED, Code.DEMOTED, Code.FOLLOWING})
EXIT_CODES = frozenset({Code.EXIT_SUCCESS, Code.EXIT_FAILED})


def watch_source(name: str) -> str:
    """The event source of watch `name`."""
    return WATCH_PREFIX + name


def template_source(name: str) -> str:
    """The event source of template `name`."""
    return TEMPLATE_PREFIX + name


def markdown_table() -> str:
    """The table as docs/configuration.md shows it."""
    rows = ["| source | codes |", "|---|---|"]
    for kind in SOURCES.values():
        codes = ", ".join(f"`{code.value}`" for code in kind.codes)
        if kind.source.startswith("`SIGHUP`"):
            codes = kind.notes
        elif kind.notes:
            codes += f" ({kind.notes})"
        rows.append(f"| {kind.source} | {codes} |")
    return "\n".join(rows)


@dataclass(frozen=True)
class Event:
    """Something that happened: `code` (exitSuccess, …) from `source` (a job, global, …)."""

    code: str
    source: str

    def __str__(self) -> str:
        return f"{self.source}.{self.code}"


Subscriber = Callable[[Event, int], None]


class EventBus:
    """Delivers each event to every subscriber, one event at a time, in publication order.

    An event published by a subscriber is queued, not delivered recursively, so every
    subscriber sees the same order. Each event gets a sequence number; the bus remembers the
    last sequence number of each (source, code) so late subscribers can ask what happened.
    """

    def __init__(self, log: Log) -> None:
        self._log = log
        self._subscribers: list[Subscriber] = []
        self._queue: deque[tuple[Event, int]] = deque()
        self._dispatching = False
        self._last_seen: dict[Event, int] = {}
        self._sequence = 0

    def subscribe(self, subscriber: Subscriber) -> None:
        """Deliver every later event to `subscriber(event, seq)`."""
        self._subscribers.append(subscriber)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        """Stop delivering to `subscriber`."""
        if subscriber in self._subscribers:
            self._subscribers.remove(subscriber)

    def publish(self, code: str, source: str) -> int:
        """Publish an event; returns its sequence number."""
        self._sequence += 1
        event = Event(str(code), source)
        self._last_seen[event] = self._sequence
        self._log.debug(f"event {event}", seq=self._sequence)
        self._queue.append((event, self._sequence))
        if not self._dispatching:
            self._dispatch()
        return self._sequence

    def last_seen(self, code: str, source: str) -> int | None:
        """The sequence number of the last (source, code) event, if it ever happened."""
        return self._last_seen.get(Event(code, source))

    def _dispatch(self) -> None:
        self._dispatching = True
        try:
            while self._queue:
                event, seq = self._queue.popleft()
                for subscriber in list(self._subscribers):
                    subscriber(event, seq)
        finally:
            self._dispatching = False
