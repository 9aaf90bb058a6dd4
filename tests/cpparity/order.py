"""The order in which a ContainerPilot v3 file's jobs start and stop, as the stubs of the
sandbox log it (tests/cpparity/sandbox.py): read by the recorder of the real ContainerPilot
(`record.py order`) and by pilot's test (tests/integration/test_containerpilot_corpus_order.py).

A run's events are `<job> start`, `<job> exit` (a short program ended) and `<job> stop` (a
long-running one got SIGTERM), in two phases: before the SIGTERM sent to the supervisor, and
after it. Only the first of each event in a phase counts (health checks, periodic and `each`
jobs repeat). Only what ContainerPilot itself orders is an order (`edges`): a `when` chain on
another job's `exitSuccess`/`exitFailed`/`healthy`/`unhealthy`/`stopping`/`stopped`, a watch
on a service a job of the file advertises, and a job held until its `stopping` hook ended.
Jobs started by the same event, or stopped by the same SIGTERM, have no order (`together`)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from tests.cpparity.sandbox import command_line

SIGTERM = "SIGTERM"  # the line the runner appends to the order log as it signals the supervisor
EXITS = ("exitSuccess", "exitFailed")
HEALTH = ("healthy", "unhealthy")
HOOKS = ("stopping", "stopped")


def jobs_of(raw: dict[str, Any]) -> list[dict[str, Any]]:
    return [job for job in raw.get("jobs") or [] if isinstance(job, dict)]


def when_of(job: dict[str, Any]) -> dict[str, Any]:
    when = job.get("when")
    return when if isinstance(when, dict) else {}


def argv_of(value: Any) -> list[str]:
    argv = value.split(" ") if isinstance(value, str) else value
    return [str(arg) for arg in argv] if isinstance(argv, list) and argv and argv[0] else []


def labels(raw: dict[str, Any]) -> dict[str, str]:
    """The job each command line a stub logs belongs to; jobs that run the same command line
    share a label (their names joined by `|`); health checks' lines are not jobs."""
    names: dict[str, set[str]] = defaultdict(set)
    for job in jobs_of(raw):
        argv = argv_of(job.get("exec"))
        if argv:
            names[command_line(argv)].add(str(job.get("name") or argv[0]))
    health = set()
    for job in jobs_of(raw):
        checks = job.get("health")
        argv = argv_of(checks.get("exec")) if isinstance(checks, dict) else []
        if argv:
            health.add(command_line(argv))
    if health & set(names):
        raise ValueError(f"a job and a health check run the same line: {health & set(names)}")
    return {line: "|".join(sorted(jobs)) for line, jobs in names.items()}


def label_of(raw: dict[str, Any], name: str) -> str | None:
    """The label of job `name` (None when it has no exec)."""
    return next((label for label in labels(raw).values() if name in label.split("|")), None)


def entries(log: str) -> list[tuple[float, str, str]]:
    """The lines of an order log: (seconds, start|exit|stop|SIGTERM, command line), in the
    order of their times: a stub that started before SIGTERM may write after the line of it."""
    found = []
    for entry in log.splitlines():
        stamp, kind, line = (*entry.split(" ", 2), "", "")[:3]
        found.append((float(stamp), kind, line))
    return sorted(found, key=lambda entry: entry[0])


Timed = list[tuple[str, float]]


def phases(log: str, raw: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The events before and after SIGTERM, each the first of its kind in its phase, in order;
    the event of jobs that share a command line is the last of them to do it. After SIGTERM, a
    job's `exit` counts only if it started then (a run already going ends as it would have)."""
    before, after = timed_phases(log, raw)
    return [event for event, _ in before], [event for event, _ in after]


def timed_phases(log: str, raw: dict[str, Any]) -> tuple[Timed, Timed]:
    """`phases`, each event with the time its stub logged it."""
    line_labels = labels(raw)
    before: Timed = []
    after: Timed = []
    current = before
    seen: dict[str, int] = defaultdict(int)
    for stamp, kind, line in entries(log):
        if kind == SIGTERM:
            current, seen = after, defaultdict(int)
            continue
        label = line_labels.get(line)
        if label is None:
            continue
        event = f"{label} {kind}"
        if current is after and kind == "exit" and seen[f"{label} start"] == 0:
            continue
        seen[event] += 1
        if seen[event] == label.count("|") + 1:
            current.append((event, stamp))
    return before, after


def edges(raw: dict[str, Any], events: list[str], after_sigterm: bool) -> list[list[str]]:
    """The pairs [a, b] of `events` (one phase of a run) in which ContainerPilot makes a come
    before b."""
    found: list[list[str]] = []

    def add(first: str, then: str) -> None:
        if first in events and then in events and [first, then] not in found:
            found.append([first, then])

    advertisers = {str(job["name"]): str(job["name"]) for job in jobs_of(raw) if job.get("port")}
    for job in jobs_of(raw):
        when = when_of(job)
        me = label_of(raw, str(job.get("name")))
        source, code = str(when.get("source") or ""), str(when.get("once") or when.get("each"))
        if me is None:
            continue
        if source.startswith("watch.") and source[6:] in advertisers:
            other = label_of(raw, advertisers[source[6:]])
            if other is not None:
                add(f"{other} start", f"{me} start")
            continue
        other = label_of(raw, source)
        if other is None or other == me:
            continue
        if code in EXITS:
            add(f"{other} exit", f"{me} start")
        elif code in HEALTH:
            add(f"{other} start", f"{me} start")
        elif code in HOOKS and not after_sigterm:
            add(f"{other} exit", f"{me} start")  # the job ended by itself
        elif code == "stopping":
            add(f"{me} start", f"{other} stop")  # held until its hook is over
            add(f"{me} exit", f"{other} stop")
        elif code == "stopped":
            add(f"{other} stop", f"{me} start")
    return found


def together(raw: dict[str, Any], events: list[str], after_sigterm: bool) -> list[list[str]]:
    """The groups of `events` (two or more) that one event starts, or one SIGTERM stops, at
    the same time: ContainerPilot gives them no order."""
    groups: dict[str, list[str]] = defaultdict(list)
    held = set()
    for job in jobs_of(raw):
        when = when_of(job)
        me = label_of(raw, str(job.get("name")))
        if me is None:
            continue
        source = str(when.get("source") or "")
        code = str(when.get("once") or when.get("each") or "")
        if code == "stopping":
            held.add(label_of(raw, source))
        cause = f"{source} {code}" if source else "startup"
        if f"{me} start" in events and f"{me} start" not in groups[cause]:
            groups[cause].append(f"{me} start")
    if after_sigterm:
        stopped = [e for e in events if e.endswith(" stop") and e[:-5] not in held]
        groups[SIGTERM] = stopped
    return [sorted(group) for group in groups.values() if len(group) > 1]


def broken(order: list[list[str]], events: list[str]) -> list[list[str]]:
    """The pairs of `order` that `events` (one phase of a run) does not keep."""
    return [
        [a, b]
        for a, b in order
        if a not in events or b not in events or events.index(a) > events.index(b)
    ]


def left_out(raw: dict[str, Any], missing: list[str]) -> set[str]:
    """The advertised jobs whose program the sandbox leaves missing: ContainerPilot advertises
    them all the same, pilot does not (an accepted difference, docs/migrating.md)."""
    return {
        str(job["name"])
        for job in jobs_of(raw)
        if job.get("port") and argv_of(job.get("exec"))[:1] and argv_of(job["exec"])[0] in missing
    }


def waiting_on(raw: dict[str, Any], services: set[str]) -> set[str]:
    """The labels of the jobs a watch on one of `services` starts: with ContainerPilot only."""
    found = set()
    for job in jobs_of(raw):
        source = str(when_of(job).get("source") or "")
        label = label_of(raw, str(job.get("name")))
        if source.startswith("watch.") and source[6:] in services and label is not None:
            found.add(label)
    return found


def without(phase: dict[str, Any], labels: set[str]) -> dict[str, Any]:
    """A recorded phase less the events of the jobs labelled `labels`."""

    def kept(event: str) -> bool:
        return event.rsplit(" ", 1)[0] not in labels

    return {
        "events": [event for event in phase["events"] if kept(event)],
        "order": [pair for pair in phase["order"] if all(map(kept, pair))],
    }
