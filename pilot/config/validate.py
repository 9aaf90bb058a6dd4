"""Checks that span fields: names, event sources, the main job, users, restarts, files."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator

from pilot.config.accounts import check_account
from pilot.config.errors import ConfigError
from pilot.config.interfaces import check_interface_spec
from pilot.config.model import Config, Ending, JobConfig
from pilot.config.paths import destination_error
from pilot.config.up_mode import check_run_mode, check_up_mode
from pilot.config.validate_consul import check_consul_parts, watch_sources
from pilot.config.validate_templates import check_templates, template_sources
from pilot.config.validate_when import check_when
from pilot.events import GLOBAL, GLOBAL_CODES, JOB_CODES, SIGNAL_SOURCES, WATCH_CODES

_JOB_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
RESERVED_NAMES = frozenset({GLOBAL, "pilot"}) | SIGNAL_SOURCES
SOCKET_PATH_MAX = 107  # sun_path holds 108 bytes, the last one NUL
SHORTEST_UNLIMITED_BACKOFF = 0.01  # restarting a crashing job with no delay is a busy loop


def check_config(config: Config, up: bool = False) -> list[ConfigError]:
    """Every problem that no single field shows, in the order of the file (`up`: as `pilot up`
    runs it, with no main job)."""
    return list(_check_config(config, up))


def _check_config(config: Config, up: bool) -> Iterator[ConfigError]:
    if not config.jobs:
        yield ConfigError("jobs", "at least one job is needed")
        return
    first_place: dict[str, str] = {}
    env_names: dict[str, str] = {}
    for i, job in enumerate(config.jobs):
        place = f"jobs[{i}]"
        if not _JOB_NAME.fullmatch(job.name) or job.name in RESERVED_NAMES:
            yield ConfigError(
                f"{place}.name",
                f"{job.name!r} is not allowed: use letters, digits, "
                "'-' and '_', starting with a letter (not global, pilot or a signal)",
            )
        elif job.name in first_place:
            yield ConfigError(
                f"{place}.name", f"duplicate job name {job.name!r} (also {first_place[job.name]})"
            )
        elif job.env_name in env_names:
            yield ConfigError(
                f"{place}.name",
                f"{job.name!r} and {env_names[job.env_name]!r} give "
                f"the same variable PILOT_{job.env_name}_PID",
            )
        first_place.setdefault(job.name, place)
        env_names.setdefault(job.env_name, job.name)
        yield from _check_restarts(job, place)
    terminal = [f"jobs[{i}]" for i, job in enumerate(config.jobs) if job.terminal]
    if len(terminal) > 1:
        yield ConfigError(
            f"{terminal[1]}.terminal", f"only one job can have the terminal (also {terminal[0]})"
        )
    yield from check_consul_parts(config)
    yield from check_templates(config)
    sources: dict[str, frozenset[str]] = {
        GLOBAL: GLOBAL_CODES,
        **watch_sources(config),
        **template_sources(config),
    }
    sources.update({name: frozenset({name}) for name in SIGNAL_SOURCES})
    sources.update({name: JOB_CODES for name in first_place})
    silent = JOB_CODES | GLOBAL_CODES | WATCH_CODES
    sources.update({name: silent for name in config.silent_sources})
    for i, job in enumerate(config.jobs):
        yield from check_when(job, f"jobs[{i}].when", sources)
        yield from _check_user(job, f"jobs[{i}]")
    if up:
        yield from check_up_mode(config)
    else:
        yield from _check_main(config)
        yield from check_run_mode(config)
    yield from _check_telemetry(config)
    yield from _check_files(config)
    socket = config.control.socket
    if socket is not None and len(os.fsencode(socket)) > SOCKET_PATH_MAX:
        yield ConfigError(
            "control.socket", f"longer than {SOCKET_PATH_MAX} bytes, the most a unix socket takes"
        )


def _check_restarts(job: JobConfig, place: str) -> Iterator[ConfigError]:
    backoff = job.backoff
    if backoff.max < backoff.initial:
        yield ConfigError(f"{place}.backoff.max", "must not be shorter than initial")
    if job.max_restarts == math.inf and backoff.initial < SHORTEST_UNLIMITED_BACKOFF:
        yield ConfigError(
            f"{place}.backoff.initial",
            "must be at least 10ms when restarts are unlimited "
            "(a job that keeps crashing would restart in a busy loop)",
        )


def _check_user(job: JobConfig, place: str) -> Iterator[ConfigError]:
    for key in ("user", "group"):
        value = getattr(job, key)
        if value is not None:
            yield from check_account(key, value, f"{place}.{key}")


def _check_main(config: Config) -> Iterator[ConfigError]:
    marked = [i for i, job in enumerate(config.jobs) if job.main]
    if len(marked) > 1:
        yield ConfigError(
            f"jobs[{marked[1]}].main", f"only one job can be main (also jobs[{marked[0]}])"
        )
    if config.ending is not Ending.MAIN_JOB:
        return  # nothing ends with one job
    advertised = [job for job in config.jobs if job.port is not None]
    if not marked and len(config.jobs) > 1 and len(advertised) != 1:
        yield ConfigError("jobs", "which job is the main one? Mark it with main: true")


_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def _check_telemetry(config: Config) -> Iterator[ConfigError]:
    if config.telemetry is None:
        return
    for i, spec in enumerate(config.telemetry.interfaces):
        try:
            check_interface_spec(spec)
        except ValueError as error:
            yield ConfigError(f"telemetry.interfaces[{i}]", str(error))
    seen: set[str] = set()
    for i, metric in enumerate(config.telemetry.metrics):
        place = f"telemetry.metrics[{i}]"
        if not _METRIC_NAME.fullmatch(metric.name) or metric.name.startswith("pilot_"):
            yield ConfigError(
                f"{place}.name",
                f"{metric.name!r} is not a metric name of yours "
                "(letters, digits, '_' and ':'; pilot_ is reserved)",
            )
        elif metric.name in seen:
            yield ConfigError(f"{place}.name", f"duplicate metric {metric.name!r}")
        seen.add(metric.name)
        for j, label in enumerate(metric.labels):
            if not _LABEL_NAME.fullmatch(label):
                yield ConfigError(f"{place}.labels[{j}]", f"{label!r} is not a label name")


def _check_files(config: Config) -> Iterator[ConfigError]:
    """Destinations that a rename can replace: a file name, not a directory, each once."""
    paths: dict[str, str] = {}
    for i, spec in enumerate(config.files):
        place = f"files[{i}]"
        if spec.export is not None and not _VARIABLE.fullmatch(spec.export):
            yield ConfigError(f"{place}.export", f"{spec.export!r} is not a variable name")
        path = os.path.abspath(spec.path)
        error = destination_error(spec.path, f"{place}.path")
        if error is not None:
            yield error
        elif path in paths:
            yield ConfigError(f"{place}.path", f"{spec.path!r} is also written by {paths[path]}")
        paths.setdefault(path, place)
