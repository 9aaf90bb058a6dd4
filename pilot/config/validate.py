"""Checks that span fields: names, event sources, the main job, users."""

from __future__ import annotations

import grp
import math
import os
import pwd
import re

from pilot.config.errors import ConfigError
from pilot.config.model import Config, JobConfig
from pilot.config.validate_consul import check_consul_parts, watch_sources
from pilot.config.validate_templates import check_templates, template_sources

JOB_CODES = frozenset(
    {
        "started",
        "exitSuccess",
        "exitFailed",
        "healthy",
        "unhealthy",
        "stopping",
        "stopped",
        "elected",
        "demoted",
        "following",
    }
)
GLOBAL_CODES = frozenset({"startup", "shutdown", "enterMaintenance", "exitMaintenance"})
SIGNAL_SOURCES = frozenset({"SIGHUP", "SIGUSR1", "SIGUSR2"})
_JOB_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
RESERVED_NAMES = frozenset({"global", "pilot"}) | SIGNAL_SOURCES


def check_config(config: Config) -> None:
    """Raise ConfigError for the first problem that no single field shows."""
    if not config.jobs:
        raise ConfigError("jobs", "at least one job is needed")
    first_place: dict[str, str] = {}
    env_names: dict[str, str] = {}
    for i, job in enumerate(config.jobs):
        place = f"jobs[{i}]"
        if not _JOB_NAME.fullmatch(job.name) or job.name in RESERVED_NAMES:
            raise ConfigError(
                f"{place}.name",
                f"{job.name!r} is not allowed: use letters, digits, "
                "'-' and '_', starting with a letter (not global, pilot or a signal)",
            )
        if job.name in first_place:
            raise ConfigError(
                f"{place}.name", f"duplicate job name {job.name!r} (also {first_place[job.name]})"
            )
        if job.env_name in env_names:
            raise ConfigError(
                f"{place}.name",
                f"{job.name!r} and {env_names[job.env_name]!r} give "
                f"the same variable PILOT_{job.env_name}_PID",
            )
        first_place[job.name] = place
        env_names[job.env_name] = job.name
    check_consul_parts(config)
    check_templates(config)
    sources: dict[str, frozenset[str]] = {
        "global": GLOBAL_CODES,
        **watch_sources(config),
        **template_sources(config),
    }
    sources.update({name: frozenset({name}) for name in SIGNAL_SOURCES})
    sources.update({name: JOB_CODES for name in first_place})
    for i, job in enumerate(config.jobs):
        _check_when(job, f"jobs[{i}].when", sources)
        _check_user(job, f"jobs[{i}]")
    _check_main(config)
    _check_telemetry(config)
    for i, spec in enumerate(config.files):
        if spec.export is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", spec.export):
            raise ConfigError(f"files[{i}].export", f"{spec.export!r} is not a variable name")


def _check_when(job: JobConfig, place: str, sources: dict[str, frozenset[str]]) -> None:
    when = job.when
    if when.interval is not None:
        if when.source or when.once or when.each:
            raise ConfigError(place, "interval cannot be combined with source, once or each")
        return
    if when.source is None:
        raise ConfigError(place, "needs a source with once or each, or an interval")
    if (when.once is None) == (when.each is None):
        raise ConfigError(place, "needs exactly one of once or each")
    key = "once" if when.once is not None else "each"
    if not when.codes:
        raise ConfigError(f"{place}.{key}", "needs at least one event code")
    codes = sources.get(when.source)
    if codes is None:
        raise ConfigError(
            f"{place}.source",
            f"unknown event source {when.source!r}: use global, "
            "a job's name, watch.<name>, SIGHUP, SIGUSR1 or SIGUSR2",
        )
    for i, code in enumerate(when.codes):
        if code not in codes:
            raise ConfigError(
                f"{place}.{key}" + (f"[{i}]" if len(when.codes) > 1 else ""),
                f"{when.source!r} has no event {code!r} (it has {', '.join(sorted(codes))})",
            )
    if when.each and job.max_restarts == math.inf:
        raise ConfigError(
            f"{place}.each",
            "a job started on each event cannot have "
            'restarts: "unlimited" (each run would never end)',
        )


def _check_user(job: JobConfig, place: str) -> None:
    for key, lookup in (("user", pwd.getpwnam), ("group", grp.getgrnam)):
        value = getattr(job, key)
        if value is None:
            continue
        if os.geteuid() != 0:
            raise ConfigError(f"{place}.{key}", "needs pilot to run as root")
        try:
            if not (value.isascii() and value.isdigit()):
                lookup(value)
        except KeyError:
            raise ConfigError(f"{place}.{key}", f"no such {key} {value!r}") from None


def _check_main(config: Config) -> None:
    marked = [i for i, job in enumerate(config.jobs) if job.main]
    if len(marked) > 1:
        raise ConfigError(
            f"jobs[{marked[1]}].main", f"only one job can be main (also jobs[{marked[0]}])"
        )
    advertised = [job for job in config.jobs if job.port is not None]
    if not marked and len(config.jobs) > 1 and len(advertised) != 1:
        raise ConfigError("jobs", "which job is the main one? Mark it with main: true")


_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def _check_telemetry(config: Config) -> None:
    if config.telemetry is None:
        return
    seen: set[str] = set()
    for i, metric in enumerate(config.telemetry.metrics):
        place = f"telemetry.metrics[{i}]"
        if not _METRIC_NAME.fullmatch(metric.name) or metric.name.startswith("pilot_"):
            raise ConfigError(
                f"{place}.name",
                f"{metric.name!r} is not a metric name of yours "
                "(letters, digits, '_' and ':'; pilot_ is reserved)",
            )
        if metric.name in seen:
            raise ConfigError(f"{place}.name", f"duplicate metric {metric.name!r}")
        seen.add(metric.name)
        for j, label in enumerate(metric.labels):
            if not _LABEL_NAME.fullmatch(label):
                raise ConfigError(f"{place}.labels[{j}]", f"{label!r} is not a label name")
