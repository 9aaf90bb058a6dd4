"""Read a pilot.json5: substitute the environment, parse JSON5, validate into a Config."""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from collections.abc import Mapping
from typing import Any

from pilot.config.consul_model import consul_token
from pilot.config.errors import ConfigError, ConfigErrors, related
from pilot.config.json5_fast import to_json
from pilot.config.kinds import Json
from pilot.config.model import Config
from pilot.config.sections import json_object, parse_section
from pilot.config.substitute import substitute
from pilot.config.up_mode import PortAllocator, apply_up, run_time_advice
from pilot.config.validate import check_config

_JSON5_POSITION = re.compile(r"<string>:(\d+) (.*) at column (\d+)")
MAX_SIZE = 1 << 20  # a config is a few KiB; more is a wrong path (/dev/zero) or a runaway file
STDIN = "-"
_SLOW_PARSE_MAX = 64 << 10  # the json5 library reads this much in well under a second
_LONG_NUMBER = re.compile(r"[0-9]{4301}|0[xX][0-9a-fA-F]{3500}")
_LONG_NUMBER_MESSAGE = "syntax error: a number of more than 4300 digits"


def load_config(
    path: str, environ: Mapping[str, str] | None = None, up: PortAllocator | None = None
) -> Config:
    """Load and validate the config at `path` (`-` is standard input); with `up`, as `pilot up`
    runs it, its ports kept by `up` (see `apply_up`).

    Raises:
        ConfigError: everything wrong with the file, each placed as precisely as possible
            (a ConfigErrors when there are several).
    """
    name = "<stdin>" if path == STDIN else path
    try:
        if path == STDIN:
            data = sys.stdin.buffer.read(MAX_SIZE + 1)
        else:
            with open(path, "rb") as file:
                data = file.read(MAX_SIZE + 1)
    except OSError as error:
        raise ConfigError(name, f"cannot read: {error.strerror or error}") from None
    if len(data) > MAX_SIZE:
        raise ConfigError(name, "larger than 1 MiB: is this the config file?")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(name, "is not UTF-8 text") from None
    environ = os.environ if environ is None else environ
    return parse_config(
        text, environ, os.path.join(os.getcwd(), name) if path == STDIN else path, up
    )


def parse_config(
    text: str, environ: Mapping[str, str], path: str = "config", up: PortAllocator | None = None
) -> Config:
    """Validate config `text` read from `path` (which places syntax errors and anchors
    relative template paths); with `up`, as `pilot up` runs it.

    Raises:
        ConfigError: every problem found (a ConfigErrors when there are several).
    """
    filename = os.path.basename(path)
    from pilot.config.containerpilot.detect import NATIVE, read_foreign

    foreign = read_foreign(text, environ, filename)
    settings: dict[str, Any] = {}
    if foreign is not None:
        raw, dialect = foreign.translation.native, foreign.name
        settings = foreign.translation.settings
        settings["warnings"] = tuple(f"{at}: {what}" for at, what in foreign.translation.warnings)
    else:
        advice = run_time_advice if up is not None else lambda _name: None
        text, dialect = substitute(text, environ, filename, advice), NATIVE
        try:
            raw = _parse(text, filename)
        except RecursionError:
            raise ConfigError(filename, "syntax error: nested too deeply") from None
    if not isinstance(raw, dict):
        raise ConfigError(filename, "must hold one object: { jobs: [...] }")
    errors: list[ConfigError] = []
    try:
        config = parse_section(Config, raw, "")
    except ConfigErrors as error:
        if error.partial is None:
            raise
        errors, config = list(error.errors), error.partial
    config = dataclasses.replace(config, path=os.path.abspath(path), dialect=dialect, **settings)
    if up is not None:
        config = apply_up(config, raw, up)
    # A check across fields is not reported where a value it reads was already wrong.
    errors += [
        error
        for error in [*check_config(config, up is not None), *_check_environment(config, environ)]
        if not any(related(error.place, earlier.place) for earlier in errors)
    ]
    if errors:
        raise ConfigErrors(errors) if len(errors) > 1 else errors[0]
    return config


def _parse(text: str, filename: str) -> Json:
    """The JSON5 `text` parsed by the C parser (through json5_fast); if that finds it wrong,
    again by the json5 library, for its message (but a large file's error is the C parser's,
    by line: the library would take minutes over it).

    Raises:
        ConfigError: a syntax error, placed.
    """
    import json

    try:
        fast = to_json(text)
        if fast is not None:
            return json.loads(fast, object_pairs_hook=json_object, strict=False)
    except json.JSONDecodeError as error:
        if len(text) > _SLOW_PARSE_MAX:
            raise ConfigError(f"{filename}:{error.lineno}", f"syntax error: {error.msg}") from None
    except ValueError:  # Python converts no integer of more than 4300 digits (quadratic)
        raise ConfigError(_long_number_place(text, filename), _LONG_NUMBER_MESSAGE) from None
    import json5  # only when the C parser did not take it: 0.5 MiB that a valid file never needs

    try:
        return json5.loads(text, object_pairs_hook=json_object)
    except ValueError as error:
        raise ConfigError(*_syntax_place(str(error), filename)) from None


def _long_number_place(text: str, filename: str) -> str:
    """`filename:line` of the first number too long to convert (digits in a string are not
    told apart: then the line may be theirs), or `filename`."""
    match = _LONG_NUMBER.search(text)
    return f"{filename}:{text.count(chr(10), 0, match.start()) + 1}" if match else filename


def _check_environment(config: Config, environ: Mapping[str, str]) -> list[ConfigError]:
    """The environment variables that override the config, checked like it."""
    token = environ.get("CONSUL_HTTP_TOKEN")
    if not (config.uses_consul and token):
        return []
    try:
        consul_token(token, "CONSUL_HTTP_TOKEN")
    except ConfigError as error:
        return [error]
    return []


def _syntax_place(message: str, filename: str) -> tuple[str, str]:
    match = _JSON5_POSITION.search(message)
    if match:
        line, what, column = match.groups()
        return f"{filename}:{line}:{column}", f"syntax error: {what}"
    return filename, f"syntax error: {message.removeprefix('<string>:')}"
