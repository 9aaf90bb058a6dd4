"""Events `(code, source)` and the bus that delivers them, in order, to every subscriber."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from pilot.log import Log


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
        self.counts: dict[Event, int] = {}

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        if subscriber in self._subscribers:
            self._subscribers.remove(subscriber)

    def publish(self, code: str, source: str) -> int:
        """Publish an event; returns its sequence number."""
        self._sequence += 1
        event = Event(code, source)
        self._last_seen[event] = self._sequence
        self.counts[event] = self.counts.get(event, 0) + 1
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
