"""Read a pilot.json5: substitute the environment, parse JSON5, validate into a Config."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping

from pilot.config.errors import ConfigError
from pilot.config.kinds import parse_section
from pilot.config.model import Config
from pilot.config.substitute import substitute
from pilot.config.validate import check_config

_JSON5_POSITION = re.compile(r"<string>:(\d+) (.*) at column (\d+)")


def load_config(path: str, environ: Mapping[str, str] | None = None) -> Config:
    """Load and validate the config at `path`.

    Raises:
        ConfigError: anything wrong with the file, placed as precisely as possible.
    """
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except OSError as error:
        raise ConfigError(path, f"cannot read: {error.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(path, "is not UTF-8 text") from None
    return parse_config(text, os.environ if environ is None else environ, path)


def parse_config(text: str, environ: Mapping[str, str], path: str = "config") -> Config:
    """Validate config `text` read from `path` (which places syntax errors and anchors
    relative template paths)."""
    filename = os.path.basename(path)
    import json5  # not needed by `pilot ctl` and friends

    text = substitute(text, environ, filename)
    try:
        raw = json5.loads(text)
    except ValueError as error:
        raise ConfigError(*_syntax_place(str(error), filename)) from None
    except RecursionError:
        raise ConfigError(filename, "syntax error: nested too deeply") from None
    if not isinstance(raw, dict):
        raise ConfigError(filename, "must hold one object: { jobs: [...] }")
    config = dataclasses.replace(parse_section(Config, raw, ""), path=os.path.abspath(path))
    check_config(config)
    return config


def _syntax_place(message: str, filename: str) -> tuple[str, str]:
    match = _JSON5_POSITION.search(message)
    if match:
        line, what, column = match.groups()
        return f"{filename}:{line}:{column}", f"syntax error: {what}"
    return filename, f"syntax error: {message.removeprefix('<string>:')}"
