"""Checks on a job's `when`: the sources it names exist and have the codes it waits for."""

from __future__ import annotations

import math
from collections.abc import Iterator

from pilot.config.errors import ConfigError
from pilot.config.model import JobConfig

SOURCES_HINT = "global, a job's name, watch.<name>, template.<name>, SIGHUP, SIGUSR1 or SIGUSR2"


def check_when(
    job: JobConfig, place: str, sources: dict[str, frozenset[str]]
) -> Iterator[ConfigError]:
    """Problems of `job.when`, given the event sources of the config and their codes."""
    when = job.when
    single = when.source is not None or when.once is not None or when.each is not None
    if when.interval is not None:
        if single or when.all is not None:
            yield ConfigError(place, "interval cannot be combined with source, once, each or all")
        return
    if when.all is not None:
        if single:
            yield ConfigError(place, "all cannot be combined with source, once or each")
            return
        if not when.all:
            yield ConfigError(f"{place}.all", "needs at least one event")
        for i, event in enumerate(when.all):
            yield from _check_codes(event.source, "once", event.once, f"{place}.all[{i}]", sources)
        return
    if when.source is None:
        yield ConfigError(place, "needs a source with once or each, all, or an interval")
        return
    if (when.once is None) == (when.each is None):
        yield ConfigError(place, "needs exactly one of once or each")
        return
    key = "once" if when.once is not None else "each"
    yield from _check_codes(when.source, key, when.codes, place, sources)
    if when.each and job.max_restarts == math.inf:
        yield ConfigError(
            f"{place}.each",
            "a job started on each event cannot have "
            'restarts: "unlimited" (each run would never end)',
        )


def _check_codes(
    source: str, key: str, codes: tuple[str, ...], place: str, sources: dict[str, frozenset[str]]
) -> Iterator[ConfigError]:
    if not codes:
        yield ConfigError(f"{place}.{key}", "needs at least one event code")
        return
    known = sources.get(source)
    if known is None:
        yield ConfigError(f"{place}.source", f"unknown event source {source!r}: use {SOURCES_HINT}")
        return
    for i, code in enumerate(codes):
        if code not in known:
            yield ConfigError(
                f"{place}.{key}" + (f"[{i}]" if len(codes) > 1 else ""),
                f"{source!r} has no event {code!r} (it has {', '.join(sorted(known))})",
            )
