"""Checks on templates: unique names and destinations, actions that name real jobs. (Whether a
source exists and compiles is pilot/render's to say: `pilot.render.sources`.)"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

from pilot.config.accounts import check_account
from pilot.config.errors import ConfigError
from pilot.config.model import Config
from pilot.config.paths import destination_error
from pilot.events import TEMPLATE_CODES, template_source

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def check_templates(config: Config) -> Iterator[ConfigError]:
    """Every problem in `templates` that the config alone shows."""
    jobs = {job.name for job in config.jobs}
    names: dict[str, str] = {}
    dests: dict[str, str] = {}
    for i, template in enumerate(config.templates):
        place = f"templates[{i}]"
        dest = os.path.abspath(template.dest)
        error = destination_error(template.dest, f"{place}.dest")
        if error is not None:
            yield error
        elif dest in dests:
            yield ConfigError(f"{place}.dest", f"also written by {dests[dest]}")
        dests.setdefault(dest, place)
        if error is None or template.name != os.path.basename(template.dest.rstrip("/")):
            yield from _check_name(template.name, place, names)
        if (template.source is None) == (template.contents is None):
            yield ConfigError(place, "needs exactly one of source or contents")
        for j, action in enumerate(template.on_change):
            where = f"{place}.on_change[{j}]"
            kinds = [k for k in ("signal", "restart", "exec") if getattr(action, k) is not None]
            if len(kinds) != 1:
                yield ConfigError(where, "needs exactly one of signal, restart or exec")
            if action.signal is not None and action.job is None:
                yield ConfigError(where, "signal needs the job to send it to")
            for key in ("job", "restart"):
                name = getattr(action, key)
                if name is not None and name not in jobs:
                    yield ConfigError(f"{where}.{key}", f"no job named {name!r}")
        if template.owner is not None:
            user, _, group = template.owner.partition(":")
            yield from check_account("user", user, f"{place}.owner")
            if group:
                yield from check_account("group", group, f"{place}.owner")
        if template.wait.max is not None and template.wait.max < template.wait.min:
            yield ConfigError(f"{place}.wait.max", "must not be shorter than min")


def _check_name(label: str, place: str, names: dict[str, str]) -> Iterator[ConfigError]:
    if not _NAME.fullmatch(label):
        yield ConfigError(
            f"{place}.name", f"{label!r} is not allowed: use letters, digits, '.', '-' and '_'"
        )
    elif label in names:
        yield ConfigError(
            f"{place}.name", f"duplicate template name {label!r} (also {names[label]}); set name"
        )
    names.setdefault(label, place)


def template_sources(config: Config) -> dict[str, frozenset[str]]:
    """Event sources the templates provide, with their codes."""
    return {template_source(t.name): TEMPLATE_CODES for t in config.templates}
