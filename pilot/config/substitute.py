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
    r"//[^\n\r\u2028\u2029]*|/\*[\s\S]*?(?:\*/|\Z)"
    r"|\"(?:[^\"\\]|\\[\s\S])*(?:\"|\Z)|'(?:[^'\\]|\\[\s\S])*(?:'|\Z)"
)
_SCALAR = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|null")
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


def substitute(text: str, environ: Mapping[str, str], filename: str = "config") -> str:
    """Replace every `${...}` in `text` (outside comments) from `environ`.

    Raises:
        ConfigError: an unset variable without default, a malformed `${`, or a value outside
            quotes that is not a scalar, placed by line:column.
    """
    if "$" not in text:
        return text
    out: list[str] = []
    position = 0
    for region in _REGION.finditer(text):
        out.append(_code(text, position, region.start(), environ, filename))
        token = region.group()
        if token[0] == "/":
            out.append(token)
        else:
            out.append(_string(text, region.start(), region.end(), environ, filename))
        position = region.end()
    out.append(_code(text, position, len(text), environ, filename))
    return "".join(out)


def _code(text: str, start: int, end: int, environ: Mapping[str, str], filename: str) -> str:
    def insert(name: str, value: str, offset: int) -> str:
        if not _SCALAR.fullmatch(value):
            raise ConfigError(
                _place(text, offset, filename),
                f"${{{name}}} is outside quotes, so its value must be a number, true, false or "
                f'null: quote it ("${{{name}}}") for a string',
            )
        return value

    return _replace(text, start, end, environ, filename, insert)


def _string(text: str, start: int, end: int, environ: Mapping[str, str], filename: str) -> str:
    quote = text[start]

    def insert(name: str, value: str, offset: int) -> str:
        escaped = value.replace("\\", "\\\\").replace(quote, "\\" + quote)
        return _UNPRINTABLE.sub(lambda char: f"\\u{ord(char.group()):04x}", escaped)

    return _replace(text, start, end, environ, filename, insert)


def _replace(
    text: str,
    start: int,
    end: int,
    environ: Mapping[str, str],
    filename: str,
    insert: Callable[[str, str, int], str],
) -> str:
    """`text[start:end]` with each `${...}` replaced by `insert(name, value, offset)` (a
    default as written: it is config text already) and each `$$` by `$`."""
    chunk = text[start:end]
    if "$" not in chunk:
        return chunk

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "$$":
            return "$"
        offset = start + match.start()
        place = _place(text, offset, filename)
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
            return insert(name, value, offset)
        raise ConfigError(
            place, f"environment variable {name} is not set (give a default: ${{{name}:-value}})"
        )

    return _TOKEN.sub(replace, chunk)


def _place(text: str, offset: int, filename: str) -> str:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"{filename}:{line}:{column}"
