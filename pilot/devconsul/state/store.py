"""The registry's one lock, its raft-like index, and the waiters of blocking queries.

Every write happens in a transaction. It takes the next index only if it touches an indexed
topic (a table such as "checks", or a name such as "service.web"), records that index for
each, and wakes exactly the blocked queries that watch one of the topics it touched or
notified (an unindexed topic such as "kv:app/a" only wakes, so that what clients may create
without end leaves nothing behind).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

FIRST_INDEX = 10  # a dev agent's raft log already holds a few entries when it serves


@dataclass
class Txn:
    """One write: `index` is what it stamps on what it changes, if it changes anything."""

    index: int
    topics: set[str] = field(default_factory=set)
    wakes: set[str] = field(default_factory=set)

    def touch(self, *topics: str) -> int:
        """Mark indexed `topics` as changed by this write; returns the write's index."""
        self.topics.update(topics)
        return self.index

    def notify(self, *topics: str) -> None:
        """Wake the watchers of unindexed `topics` when this write ends."""
        self.wakes.update(topics)


@dataclass(frozen=True)
class Watch:
    """What a blocked query waits on: exact topics, or any topic under a prefix."""

    topics: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()

    def matches(self, changed: Iterable[str]) -> bool:
        """Whether a write that changed `changed` concerns this watch."""
        return any(topic in self.topics or topic.startswith(self.prefixes) for topic in changed)


class Store:
    """The lock every reader and writer takes, and the per-topic indexes."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.index = FIRST_INDEX
        self.closed = False
        self._topics: dict[str, int] = {}
        self._waiters: dict[threading.Event, Watch] = {}
        # Answers of blocking queries woken by the last write, by request: the watchers of
        # one query compute it once (valid until the next write or `forget()`).
        self.memo: dict[str, Any] = {}

    @contextmanager
    def write(self) -> Iterator[Txn]:
        """Hold the lock for one write; commit its index and wake its watchers at the end."""
        with self.lock:
            txn = Txn(self.index + 1)
            try:
                yield txn
            finally:  # writes validate first; should one fail midway, what it did is still seen
                if txn.topics:
                    self.index = txn.index
                    for topic in txn.topics:
                        self._topics[topic] = txn.index
                changed = txn.topics | txn.wakes
                if changed:
                    self.memo.clear()
                if changed and self._waiters:
                    for event, watch in list(self._waiters.items()):
                        if watch.matches(changed):
                            del self._waiters[event]
                            event.set()

    @property
    def blocked(self) -> int:
        """How many queries are blocked right now (Consul's rpc.queries_blocking)."""
        with self.lock:
            return len(self._waiters)

    def index_of(self, topic: str) -> int:
        """The index of the last write that touched `topic` (0: never)."""
        return self._topics.get(topic, 0)

    def wait(self, watch: Watch, deadline: float) -> bool:
        """Block (lock held; held again on return) until a write touches `watch` or
        `deadline` (monotonic) passes.

        Returns:
            False on timeout or when the registry is stopping.
        """
        woke = self.wait_unlocked(watch, deadline)
        self.lock.acquire()
        return woke

    def wait_unlocked(self, watch: Watch, deadline: float) -> bool:
        """As `wait`, but return without the lock: woken watchers need not queue for it
        (see `blocking.block`, which reads `memo` first)."""
        remaining = deadline - time.monotonic()
        if remaining <= 0 or self.closed:
            self.lock.release()
            return False
        event = threading.Event()
        self._waiters[event] = watch  # a write that matches removes it, then sets it
        self.lock.release()
        if event.wait(remaining):
            return not self.closed
        with self.lock:
            self._waiters.pop(event, None)
        return False

    def forget(self) -> None:
        """Drop memoised answers (state changed outside a write, lock held)."""
        self.memo.clear()

    def close(self) -> None:
        """Release every blocked query (they answer with what they have)."""
        with self.lock:
            self.closed = True
            for event in self._waiters:
                event.set()
            self._waiters.clear()
