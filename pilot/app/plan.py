"""What a reload changes, decided from the old and the new config alone: which jobs keep
running, which stop and which start, which watches and templates are added, removed or
changed, and which settings only a restart can change."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pilot.config.model import Config

FIXED = ("consul", "control", "telemetry")  # settings a running pilot cannot change


@dataclass(frozen=True)
class Diff:
    """Names added, removed and changed between two lists of named settings."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()

    @property
    def replaced(self) -> frozenset[str]:
        """What goes away or is made anew: removed and changed."""
        return frozenset(self.removed + self.changed)


@dataclass(frozen=True)
class ReloadPlan:
    """A reload from one config to the next. A job that changed is stopped and started again
    under its name; `stopped` and `started` both name it."""

    unchanged: tuple[str, ...]
    stopped: tuple[str, ...]
    started: tuple[str, ...]
    watches: Diff
    templates: Diff
    fixed: tuple[str, ...]

    @property
    def refusal(self) -> str | None:
        """Why the reload cannot be applied while pilot runs, if it cannot."""
        if not self.fixed:
            return None
        return f"{', '.join(self.fixed)} cannot change while pilot runs; restart it"


def plan_reload(old: Config, new: Config) -> ReloadPlan:
    """The plan that takes a pilot running `old` to `new` (file order kept)."""
    jobs = diff(old.jobs, new.jobs)
    gone = jobs.replaced
    return ReloadPlan(
        unchanged=tuple(job.name for job in new.jobs if job.name not in gone | set(jobs.added)),
        stopped=tuple(job.name for job in old.jobs if job.name in gone),
        started=tuple(job.name for job in new.jobs if job.name not in _names(old.jobs) - gone),
        watches=diff(old.watches, new.watches),
        templates=diff(old.templates, new.templates),
        fixed=tuple(key for key in FIXED if getattr(new, key) != getattr(old, key)),
    )


def diff(old: Iterable[Any], new: Iterable[Any]) -> Diff:
    """Compare two sequences of settings that each have a `name`."""
    before, after = _by_name(old), _by_name(new)
    return Diff(
        added=tuple(name for name in after if name not in before),
        removed=tuple(name for name in before if name not in after),
        changed=tuple(name for name in after if name in before and before[name] != after[name]),
    )


def _by_name(items: Iterable[Any]) -> Mapping[str, Any]:
    return {item.name: item for item in items}


def _names(items: Iterable[Any]) -> set[str]:
    return {item.name for item in items}
