"""`${VAR}` / `${VAR:-default}` substitution in the raw config text; `$$` is a literal `$`.

What a variable inserts is literal, and inserted once: inside a string it is escaped for that
string (a `"`, a `\\` or a newline in the value stays what it is, and a `${X}` in it stays
text); outside a string it must be a number, `true`, `false` or `null`. Comments are left as
they are.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from pilot.config.errors import ConfigError

_TOKEN = re.compile(r"\$\$|\$\{([^}]*)\}?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Comments and strings of JSON5; what is between them is code. An unclosed one runs to the end.
_REGION = re.compile(
    r"(//[^\n\r\u2028\u2029]*|/\*[\s\S]*?(?:\*/|\Z)"
    r"|\"[^\"\\]*(?:\\[\s\S][^\"\\]*)*(?:\"|\Z)|'[^'\\]*(?:\\[\s\S][^'\\]*)*(?:'|\Z))"
)
_SCALAR = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|null")
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


def substitute(
    text: str,
    environ: Mapping[str, str],
    filename: str = "config",
    advice: Callable[[str], str | None] = lambda _name: None,
) -> str:
    """Replace every `${...}` in `text` (outside comments) from `environ`; `advice(name)` may
    replace the advice given when variable `name` is not set.

    Raises:
        ConfigError: an unset variable without default, a malformed `${`, or a value outside
            quotes that is not a scalar, placed by line:column.
    """
    if "$" not in text:
        return text
    parts = _REGION.split(text)  # code, comment or string, code, ..., code
    original = list(parts)
    done: dict[tuple[str, str | None], str] = {}  # a token's text where it is quoted alike
    for index in [index for index, part in enumerate(parts) if "$" in part]:
        part = original[index]
        if index % 2 and part[0] == "/":
            continue
        quote = part[0] if index % 2 else None

        def place(offset: int, index: int = index) -> str:
            return _place(text, sum(map(len, original[:index])) + offset, filename)

        parts[index] = _replace(part, quote, environ, place, advice, done)
    return "".join(parts)


def _insert(name: str, value: str, quote: str | None, place: Callable[[], str]) -> str:
    """`value` as literal text inside a string quoted by `quote`, or outside quotes."""
    if quote is not None:
        escaped = value.replace("\\", "\\\\").replace(quote, "\\" + quote)
        return _UNPRINTABLE.sub(lambda char: f"\\u{ord(char.group()):04x}", escaped)
    if not _SCALAR.fullmatch(value):
        raise ConfigError(
            place(),
            f"${{{name}}} is outside quotes, so its value must be a number, true, false or "
            f'null: quote it ("${{{name}}}") for a string',
        )
    return value


def _replace(
    chunk: str,
    quote: str | None,
    environ: Mapping[str, str],
    place: Callable[[int], str],
    advice: Callable[[str], str | None],
    done: dict[tuple[str, str | None], str],
) -> str:
    """`chunk` with each `${...}` replaced (a default as written: it is config text already)
    and each `$$` by `$`; `place(offset in chunk)` names where; `done` keeps each token's
    replacement for the next time it is quoted alike."""

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        replacement = done.get((token, quote))
        if replacement is None:
            replacement = done[token, quote] = resolve(match, token)
        return replacement

    def resolve(match: re.Match[str], token: str) -> str:
        if token == "$$":
            return "$"
        here = match.start()
        if not token.endswith("}"):
            raise ConfigError(place(here), "unclosed '${': write '$$' for a literal '$'")
        body = match.group(1)
        name, sep, default = body.partition(":-")
        if not _NAME.fullmatch(name):
            raise ConfigError(
                place(here), f"'${{{body}}}' is not a variable reference like ${{NAME}}"
            )
        value = environ.get(name)
        if sep and not value:  # as in the shell, ':-' also replaces an empty value
            return default
        if value is not None:
            return _insert(name, value, quote, lambda: place(here))
        raise ConfigError(
            place(here),
            f"environment variable {name} is not set "
            f"({advice(name) or f'give a default: ${{{name}:-value}}'})",
        )

    return _TOKEN.sub(replace, chunk)


def _place(text: str, offset: int, filename: str) -> str:
    """`filename:line:column` of `offset` in `text`."""
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"{filename}:{line}:{column}"
