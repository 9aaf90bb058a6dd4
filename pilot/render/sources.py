"""Template sources: where a template's file is, and whether every source exists and compiles
(checked once the config has loaded: Jinja2 is pilot/render's, not pilot/config's)."""

from __future__ import annotations

import os

from pilot.config.errors import ConfigError
from pilot.config.model import Config
from pilot.config.template_model import Template


def source_path(template: Template, config_path: str) -> str:
    """Where a template's source file is: `pilot:` paths are shipped with pilot."""
    assert template.source is not None
    if template.source.startswith("pilot:"):
        from pilot.templates import shipped_template

        return shipped_template(template.source.removeprefix("pilot:"))
    return os.path.join(os.path.dirname(config_path) or ".", template.source)


def check_template_sources(config: Config) -> list[ConfigError]:
    """Every template whose source file is missing or unreadable, or whose text is not valid
    Jinja2, as placed errors (`templates[1].source: line 3: ...`)."""
    errors = []
    for i, template in enumerate(config.templates):
        place = f"templates[{i}].{'contents' if template.source is None else 'source'}"
        problem = _problem(template, config.path)
        if problem is not None:
            errors.append(ConfigError(place, problem))
    return errors


def _problem(template: Template, config_path: str) -> str | None:
    from jinja2 import TemplateSyntaxError

    from pilot.render.language import make_environment

    text = template.contents
    if text is None:
        path = source_path(template, config_path)
        if not os.path.isfile(path):
            return f"no such file {path}"
        try:
            with open(path, encoding="utf-8") as file:
                text = file.read()
        except (OSError, UnicodeDecodeError) as error:
            return f"cannot read: {error}"
    try:
        make_environment().from_string(text)
    except TemplateSyntaxError as error:
        return f"line {error.lineno}: {error.message}"
    return None
