"""Checks on templates: sources that exist, unique names, actions that name real jobs."""

from __future__ import annotations

import os
import re

from pilot.config.errors import ConfigError
from pilot.config.model import Config
from pilot.config.template_model import Template

TEMPLATE_CODES = frozenset({"rendered", "renderFailed"})
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def check_templates(config: Config) -> None:
    """Raise ConfigError for the first problem in `templates`."""
    jobs = {job.name for job in config.jobs}
    names: dict[str, str] = {}
    dests: dict[str, str] = {}
    for i, template in enumerate(config.templates):
        place = f"templates[{i}]"
        if not _NAME.fullmatch(template.label):
            raise ConfigError(
                f"{place}.name",
                f"{template.label!r} is not allowed: use letters, digits, '.', '-' and '_'",
            )
        if template.label in names:
            raise ConfigError(
                f"{place}.name",
                f"duplicate template name {template.label!r} "
                f"(also {names[template.label]}); set name",
            )
        names[template.label] = place
        dest = os.path.abspath(template.dest)
        if dest in dests:
            raise ConfigError(f"{place}.dest", f"also written by {dests[dest]}")
        dests[dest] = place
        if (template.source is None) == (template.contents is None):
            raise ConfigError(place, "needs exactly one of source or contents")
        if template.source is not None:
            path = source_path(template, config.path)
            if not os.path.isfile(path):
                raise ConfigError(f"{place}.source", f"no such file {path}")
        _check_syntax(
            template, config.path, f"{place}.{(template.source and 'source') or 'contents'}"
        )
        for j, action in enumerate(template.on_change):
            where = f"{place}.on_change[{j}]"
            kinds = [k for k in ("signal", "restart", "exec") if getattr(action, k) is not None]
            if len(kinds) != 1:
                raise ConfigError(where, "needs exactly one of signal, restart or exec")
            if action.signal is not None and action.job is None:
                raise ConfigError(where, "signal needs the job to send it to")
            for key in ("job", "restart"):
                name = getattr(action, key)
                if name is not None and name not in jobs:
                    raise ConfigError(f"{where}.{key}", f"no job named {name!r}")
        if template.wait.max is not None and template.wait.max < template.wait.min:
            raise ConfigError(f"{place}.wait.max", "must not be shorter than min")


def _check_syntax(template: Template, config_path: str, place: str) -> None:
    from jinja2 import TemplateSyntaxError

    from pilot.render.renderer import load_template

    try:
        load_template(template, config_path)
    except TemplateSyntaxError as error:
        raise ConfigError(place, f"line {error.lineno}: {error.message}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(place, f"cannot read: {error}") from None


def template_sources(config: Config) -> dict[str, frozenset[str]]:
    """Event sources the templates provide, with their codes."""
    return {f"template.{t.label}": TEMPLATE_CODES for t in config.templates}


def source_path(template: Template, config_path: str) -> str:
    """Where a template's source file is: `pilot:` paths are shipped with pilot."""
    assert template.source is not None
    if template.source.startswith("pilot:"):
        from pilot.templates import shipped_template

        return shipped_template(template.source.removeprefix("pilot:"))
    return os.path.join(os.path.dirname(config_path) or ".", template.source)
