"""The grammar of Consul's `?filter=` expressions (go-bexpr): a parser to a small tree.

    Expr      := And ("or" Expr)?          And := Not ("and" And)?
    Not       := "not" Not | "(" Expr ")" | Match
    Match     := Selector ("==" | "!=" | "contains" | "not contains" | "matches"
                 | "not matches") Value
               | Selector "is" ["not"] "empty"
               | Value ["not"] "in" Selector
    Selector  := Ident ("." Ident | "[" String "]")*      Ident := [a-zA-Z][a-zA-Z0-9_]*
    Value     := Selector | Number | String ("..." with Go escapes, or `raw`)

Keywords need whitespace around them, `==` and `!=` do not. Errors read as go-bexpr's
parser's: "1:<column> (<offset>): <what>". Parentheses nest at most `MAX_NESTING` deep, so
that no expression exhausts Python's stack.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

EQUAL, NOT_EQUAL, IN, NOT_IN = "==", "!=", "in", "not in"
EMPTY, NOT_EMPTY, MATCHES, NOT_MATCHES = "is empty", "is not empty", "matches", "not matches"

_IDENT = re.compile(r"[a-zA-Z][a-zA-Z0-9_]*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?")
_SPACE = re.compile(r"[ \t\r\n]+")
MAX_NESTING = 100  # parentheses; deeper is refused (go-bexpr has no limit: Go's stack grows)
_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


class FilterSyntaxError(ValueError):
    """An expression the grammar refuses."""


@dataclass(frozen=True)
class Match:
    """`selector <operator> value` (value None for the emptiness checks)."""

    selector: tuple[str, ...]
    operator: str
    value: str | None


@dataclass(frozen=True)
class Not:
    """`not <operand>`."""

    operand: Expression


@dataclass(frozen=True)
class Binary:
    """`<a> and <b> and ...` or `<a> or <b> or ...` (a chain is one node, not a nesting:
    a long chain must not recurse)."""

    operator: str
    operands: tuple[Expression, ...]


Expression = Match | Not | Binary


def parse(text: str) -> Expression:
    """The tree of an expression.

    Raises:
        FilterSyntaxError: with go-bexpr's kind of position and message.
    """
    parser = _Parser(text)
    parser.space()
    expression = parser.expression()
    parser.space()
    if parser.pos != len(text):
        parser.fail('no match found, expected: "and", "or" or [ \\t\\r\\n]')
    return expression


class _Parser:
    def __init__(self, text: str) -> None:
        self.text, self.pos, self.depth = text, 0, 0

    def fail(self, message: str) -> None:
        raise FilterSyntaxError(f"1:{self.pos + 1} ({self.pos}): {message}")

    def space(self) -> bool:
        found = _SPACE.match(self.text, self.pos)
        if found:
            self.pos = found.end()
        return found is not None

    def keyword(self, *words: str) -> bool:
        """Whitespace, then `words` separated by whitespace, then whitespace (or nothing is
        consumed)."""
        start = self.pos
        for word in words:
            if not self.space() or not self.text.startswith(word, self.pos):
                self.pos = start
                return False
            self.pos += len(word)
        return True

    def expression(self) -> Expression:
        return self.chain("or", self.conjunction)

    def conjunction(self) -> Expression:
        return self.chain("and", self.negation)

    def chain(self, operator: str, operand: Callable[[], Expression]) -> Expression:
        """`operand (operator operand)*`, read in a loop."""
        operands = [operand()]
        while True:
            start = self.pos
            if not (self.keyword(operator) and self.space()):
                self.pos = start
                break
            operands.append(operand())
        return operands[0] if len(operands) == 1 else Binary(operator, tuple(operands))

    def negation(self) -> Expression:
        negated = False
        while self.text.startswith("not", self.pos):
            start = self.pos
            self.pos += 3
            if not self.space():
                self.pos = start
                break
            negated = not negated
        inner = self.group() if self.text.startswith("(", self.pos) else self.match()
        if not negated:
            return inner
        return inner.operand if isinstance(inner, Not) else Not(inner)

    def group(self) -> Expression:
        """`( expression )`, at most `MAX_NESTING` deep."""
        if self.depth >= MAX_NESTING:
            self.fail(f"parentheses nested deeper than {MAX_NESTING} levels")
        self.depth += 1
        self.pos += 1
        self.space()
        inner = self.expression()
        self.space()
        if not self.text.startswith(")", self.pos):
            self.fail("Unmatched parentheses")
        self.pos += 1
        self.depth -= 1
        return inner

    def match(self) -> Expression:
        start = self.pos
        selector = self.selector()
        if selector is not None:
            after = self.pos
            for words, operator in (
                (("contains",), IN),
                (("not", "contains"), NOT_IN),
                (("matches",), MATCHES),
                (("not", "matches"), NOT_MATCHES),
            ):
                if self.keyword(*words) and self.space():
                    return Match(selector, operator, self.value())
                self.pos = after
            self.space()
            for symbol in (EQUAL, NOT_EQUAL):
                if self.text.startswith(symbol, self.pos):
                    self.pos += 2
                    self.space()
                    return Match(selector, symbol, self.value())
            self.pos = after
            if self.keyword("is", "empty"):
                return Match(selector, EMPTY, None)
            if self.keyword("is", "not", "empty"):
                return Match(selector, NOT_EMPTY, None)
        self.pos = start
        value = self.value()
        after = self.pos
        for words, operator in ((("in",), IN), (("not", "in"), NOT_IN)):
            if self.keyword(*words) and self.space():
                target = self.selector()
                if target is None:
                    self.fail("Invalid selector")
                assert target is not None
                return Match(target, operator, value)
            self.pos = after
        if selector is not None:
            self.pos = after
            if self.space():  # the farthest pigeon got: an operator after the whitespace
                self.fail(
                    'no match found, expected: "!=", "==", "contains", "in", "is", "matches", '
                    '"not" or [ \\t\\r\\n]'
                )
            if self.text[after - 1] not in ']`"':  # right after a selector's name
                self.fail(
                    'no match found, expected: "!=", ".", "==", "[", [ \\t\\r\\n] or [a-zA-Z0-9_]'
                )
        self.pos = start
        self.fail(
            'no match found, expected: "(", "-", "0", "[", "\\"", "`", "not", [1-9] or [a-zA-Z]'
        )
        raise AssertionError  # fail() raised

    def selector(self) -> tuple[str, ...] | None:
        found = _IDENT.match(self.text, self.pos)
        if found is None:
            return None
        path = [found.group()]
        self.pos = found.end()
        while True:
            if self.text.startswith(".", self.pos):
                part = _IDENT.match(self.text, self.pos + 1)
                if part is None:
                    self.fail("no match found, expected: [a-zA-Z]")
                assert part is not None
                path.append(part.group())
                self.pos = part.end()
            elif self.text.startswith("[", self.pos):
                self.pos += 1
                self.space()
                key = self.string()
                if key is None:
                    self.fail("Invalid index")
                self.space()
                if not self.text.startswith("]", self.pos):
                    self.fail("Unclosed index expression")
                self.pos += 1
                path.append(key or "")
            else:
                return tuple(path)

    def value(self) -> str:
        selector = self.selector()
        if selector is not None:
            return ".".join(selector)
        number = _NUMBER.match(self.text, self.pos)
        if number is not None:
            end = number.end()
            if end < len(self.text) and self.text[end] not in " \t\r\n)":
                self.fail("Invalid number literal")
            self.pos = end
            return number.group()
        text = self.string()
        if text is None:
            self.fail('no match found, expected: "-", "0", "\\"", "`", [1-9] or [a-zA-Z]')
        assert text is not None
        return text

    def string(self) -> str | None:
        if self.pos >= len(self.text) or self.text[self.pos] not in '"`':
            return None
        quote = self.text[self.pos]
        end = self.text.find(quote, self.pos + 1)
        if end < 0:
            self.fail("Unterminated string literal")
        raw = self.text[self.pos + 1 : end]
        self.pos = end + 1
        return raw if quote == "`" else _unquote(raw, self)


def _unquote(raw: str, parser: _Parser) -> str:
    """Go's strconv.Unquote of a double-quoted string's inside."""
    out, i = [], 0
    while i < len(raw):
        char = raw[i]
        if char != "\\":
            out.append(char)
            i += 1
            continue
        code = raw[i + 1 : i + 2]
        if code in _ESCAPES:
            out.append(_ESCAPES[code])
            i += 2
        elif code in ("\\", "'"):
            out.append(code)
            i += 2
        elif code in ("x", "u", "U"):
            width = {"x": 2, "u": 4, "U": 8}[code]
            digits = raw[i + 2 : i + 2 + width]
            if len(digits) != width or any(d not in "0123456789abcdefABCDEF" for d in digits):
                parser.fail("invalid syntax")
            out.append(chr(int(digits, 16)))
            i += 2 + width
        else:
            parser.fail("invalid syntax")
    return "".join(out)
