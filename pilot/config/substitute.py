"""`${VAR}` / `${VAR:-default}` substitution in the raw config text; `$$` is a literal `$`."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from pilot.config.errors import ConfigError

_TOKEN = re.compile(r"\$\$|\$\{([^}]*)\}?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def substitute(
    text: str,
    environ: Mapping[str, str],
    filename: str = "config",
    advice: Callable[[str], str | None] = lambda _name: None,
) -> str:
    """Replace every `${...}` in `text` from `environ`; `advice(name)` may replace the advice
    given when variable `name` is not set.

    Raises:
        ConfigError: an unset variable without default, or a malformed `${`, placed by line:column.
    """

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "$$":
            return "$"
        place = _place(text, match.start(), filename)
        if not token.endswith("}"):
            raise ConfigError(place, "unclosed '${': write '$$' for a literal '$'")
        body = match.group(1)
        name, sep, default = body.partition(":-")
        if not _NAME.fullmatch(name):
            raise ConfigError(place, f"'${{{body}}}' is not a variable reference like ${{NAME}}")
        value = environ.get(name)
        if sep and not value:  # as in the shell, ':-' also replaces an empty value
            return default
        if value is not None:
            return value
        raise ConfigError(
            place,
            f"environment variable {name} is not set "
            f"({advice(name) or f'give a default: ${{{name}:-value}}'})",
        )

    return _TOKEN.sub(replace, text)


def _place(text: str, offset: int, filename: str) -> str:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"{filename}:{line}:{column}"
