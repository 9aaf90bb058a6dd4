"""Which dialect a config file is written in, and a ContainerPilot file read into pilot.json5
data: Go-template rendering with the environment, JSON5, then the v3 translation."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from pilot.config.containerpilot.keys import EVERY, HEALTH, JOB, TOP, V2_KEYS, WATCH
from pilot.config.errors import ConfigError
from pilot.config.model import CONTAINERPILOT

NATIVE = "pilot.json5"
if TYPE_CHECKING:
    from pilot.config.containerpilot.v3 import Translation

MAX_CONFIG = 65_536  # characters of a rendered config (the largest known is 5 KB; JSON5 is slow)
_JSON5_POSITION = re.compile(r"<string>:(\d+) (.*) at column (\d+)")


class Dialect(NamedTuple):
    """A file read in a foreign dialect: its name and its pilot.json5 data."""

    name: str
    translation: Translation


def read_foreign(
    text: str, environ: Mapping[str, str], filename: str, runtime: bool = True
) -> Dialect | None:
    """The file read as ContainerPilot's, or None when it is a pilot.json5.

    A file is ContainerPilot's when its name starts with `containerpilot`, or, rendered as
    ContainerPilot would, it has `jobs` and `consul` and only ContainerPilot's keys (its
    `health` intervals in whole seconds), or v2's keys. `runtime` adds what a running pilot
    exports (CONTAINERPILOT_PID); conversions leave it out.

    Raises:
        ConfigError: a ContainerPilot file it would refuse (placed), or a v2 file.
    """
    named = os.path.basename(filename).lower().startswith("containerpilot")
    if not named and not _may_be_containerpilot(text):
        return None
    try:
        raw = parse_rendered(text, environ, filename)
    except ConfigError:
        if named:
            raise
        return None
    if not named and not is_containerpilot(raw):
        return None
    from pilot.config.containerpilot.v3 import refuse_v2, translate

    refused = refuse_v2(raw)
    if refused is not None:
        raise refused
    translation = translate(raw)
    if runtime:
        for job in translation.native.get("jobs", []):
            job["env"] = {"CONTAINERPILOT_PID": str(os.getpid())}
    return Dialect(CONTAINERPILOT, translation)


def parse_rendered(text: str, environ: Mapping[str, str], filename: str) -> dict[str, Any]:
    """The template rendered with the environment, parsed as JSON5 (an object).

    Raises:
        ConfigError: a template or syntax error placed by line and column.
    """
    import json5

    from pilot.gotemplate.execute import RenderError, environment_data, render

    try:
        rendered = render(text, environment_data(environ), environ, filename, MAX_CONFIG)
    except RenderError as error:
        raise ConfigError(error.place, error.message) from None
    try:
        raw = json5.loads(rendered)
    except ValueError as error:
        match = _JSON5_POSITION.search(str(error))
        if match:
            line, what, column = match.groups()
            raise ConfigError(
                f"{filename}:{line}:{column}", f"syntax error after rendering: {what}"
            ) from None
        raise ConfigError(filename, f"syntax error after rendering: {error}") from None
    except RecursionError:
        raise ConfigError(filename, "syntax error after rendering: nested too deeply") from None
    if not isinstance(raw, dict):
        raise ConfigError(filename, "must hold one object: { consul: ..., jobs: [...] }")
    return raw


def _may_be_containerpilot(text: str) -> bool:
    """A cheap look before parsing (which costs a native pilot.json5 tens of milliseconds of
    start-up): ContainerPilot's `consul` with `jobs`, or v2's keys, and no key that only
    pilot.json5 has, nor a health `ttl` written as a string."""
    if any(key in text for key in V2_KEYS):
        return True
    return "consul" in text and "jobs" in text and not _native_only().search(text)


@functools.cache
def _native_only() -> re.Pattern[str]:
    """A key of pilot.json5's schema (at any depth) that no ContainerPilot config has, or a
    `ttl` given as a string."""
    from pilot.config.schema import config_schema

    found: set[str] = set()
    _properties(config_schema(), found)
    keys = "|".join(sorted(found - EVERY))
    return re.compile(
        rf"""(?:^|[{{,\s])(?:"(?:{keys})"|'(?:{keys})'|(?:{keys}))\s*:|\bttl\s*:\s*["']""",
        re.MULTILINE,
    )


def _properties(schema: Any, found: set[str]) -> None:
    """Every property name in `schema`, into `found`."""
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "properties" and isinstance(value, dict):
                found.update(value)
            _properties(value, found)
    elif isinstance(schema, list):
        for value in schema:
            _properties(value, found)


def is_containerpilot(raw: dict[str, Any]) -> bool:
    """Whether parsed data is a ContainerPilot config rather than a pilot.json5."""
    if any(key in raw for key in V2_KEYS) and "jobs" not in raw:
        return True
    if "jobs" not in raw or "consul" not in raw or not set(raw) <= set(TOP):
        return False
    jobs = raw["jobs"] if isinstance(raw["jobs"], list) else []
    for job in jobs:
        if not isinstance(job, dict) or not set(job) <= set(JOB):
            return False
        health = job.get("health")
        if isinstance(health, dict) and (
            not set(health) <= set(HEALTH)
            or not all(isinstance(health.get(key, 1), int) for key in ("interval", "ttl"))
        ):
            return False
    watches = raw.get("watches")
    return not isinstance(watches, list) or all(
        isinstance(watch, dict) and set(watch) <= set(WATCH) and "service" not in watch
        for watch in watches
    )
