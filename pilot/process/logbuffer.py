"""The recent output of every job, kept by the running pilot for `pilot logs`: a bounded ring
per job, lines numbered in one sequence across jobs so that several jobs' lines merge in order."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from pilot.feed import Feed

LINES_PER_JOB = 2000
BYTES_PER_JOB = 1 << 20  # a job printing 64 KiB lines keeps its last 1 MiB, not 128 MiB


@dataclass(frozen=True)
class LogLine:
    """One line: `stream` is "stdout", "stderr", or "pilot" (pilot's own line about the job)."""

    seq: int
    time: float
    job: str
    stream: str
    text: str


class LogBuffer:
    """The last LINES_PER_JOB lines of each job, at most BYTES_PER_JOB of text; lives on the
    event loop."""

    def __init__(
        self, lines_per_job: int = LINES_PER_JOB, bytes_per_job: int = BYTES_PER_JOB
    ) -> None:
        self._size, self._bytes = lines_per_job, bytes_per_job
        self._jobs: dict[str, deque[LogLine]] = {}
        self._held: dict[str, int] = {}  # characters of text kept per job
        self.feed = Feed()  # numbers the lines; `pilot logs -f` polls it

    def add(self, job: str, stream: str, text: str) -> None:
        """Keep one line (a `Log` tap)."""
        ring = self._jobs.get(job)
        if ring is None:
            ring = self._jobs[job] = deque()
        ring.append(LogLine(self.feed.add(), time.time(), job, stream, text))
        held = self._held.get(job, 0) + len(text)
        while len(ring) > self._size or (held > self._bytes and len(ring) > 1):
            held -= len(ring.popleft().text)
        self._held[job] = held

    def lines(
        self,
        jobs: Iterable[str] = (),
        after: int = 0,
        last: int | None = None,
        since: float | None = None,
    ) -> list[LogLine]:
        """The kept lines of `jobs` (all jobs when empty), in order: those numbered above
        `after`, written at or after time `since`, at most the `last` ones."""
        names = list(jobs) or list(self._jobs)
        picked = [
            line
            for name in names
            for line in self._jobs.get(name, ())
            if line.seq > after and (since is None or line.time >= since)
        ]
        picked.sort(key=lambda line: line.seq)
        if last is None:
            return picked
        return picked[-last:] if last > 0 else []
