"""Regular expressions as Go's `regexp` package takes them (RE2 syntax, linear-time matching),
through the `google-re2` binding, imported on first use: only filters with `matches` and user
events with filters need it.

Python's `re` backtracks: `(a+)+$` against a long run of "a"s never ends, and in pilot it
would hold every thread (the interpreter's lock is not released while `re` matches).
"""

from __future__ import annotations

from typing import Any, Protocol

_ERRORS = {  # RE2's error texts, as Go's regexp/syntax words them
    "missing )": "missing closing )",
    "missing ]": "missing closing ]",
    "trailing \\": "trailing backslash at end of expression",
    "no argument for repetition operator": "missing argument to repetition operator",
    "invalid repetition size": "invalid repeat count",
    "bad repetition operator": "invalid nested repetition operator",
    "invalid perl operator": "invalid or unsupported Perl syntax",
    "invalid named capture group": "invalid named capture",
}
_options: Any = None


class Pattern(Protocol):
    """A compiled expression (a `re2._Regexp`)."""

    def search(self, text: str) -> object | None:
        """The first match anywhere in `text`, or None."""


class GoRegexpError(ValueError):
    """An expression Go's regexp refuses; the text is Go's: "error parsing regexp: ..."."""


def compile_go(expression: str) -> Pattern:
    """Compile `expression` with Go's syntax (RE2's), unanchored as Go's `MatchString`.

    Raises:
        GoRegexpError: a syntax error, in Go's words.
    """
    global _options
    import re2

    if _options is None:
        options = re2.Options()
        options.log_errors = False  # RE2 would print each refusal to stderr
        _options = options
    try:
        pattern: Pattern = re2.compile(expression, options=_options)
    except re2.error as error:
        raise GoRegexpError(_go_text(error.args[0] if error.args else "")) from None
    return pattern


def _go_text(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    code, _, fragment = text.partition(": ")
    return f"error parsing regexp: {_ERRORS.get(code, code)}: `{fragment}`"
