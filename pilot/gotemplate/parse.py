"""The lexer and parser of Go's text/template, the subset ContainerPilot configs use: text,
actions with pipelines, `if`/`else if`/`else`, `range`, `with`, variables, comments, trim
markers, string, raw-string, char and number literals. Every node keeps its offset in the
source, so that errors name a line and column."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

MAX_OUTPUT = 1_000_000  # characters of one value or of the whole result: a config, not a disk
MAX_DEPTH = 100  # nested blocks and parentheses
MAX_STEPS = 1_000_000  # range iterations of one rendering


class RenderError(Exception):
    """A template that cannot be rendered: `place` is `file:line:column`, `message` what."""

    def __init__(self, place: str, message: str) -> None:
        super().__init__(f"{place}: {message}")
        self.place = place
        self.message = message


class TemplateError(Exception):
    """A template that cannot be parsed or executed; `offset` is where, in the source."""

    def __init__(self, offset: int, message: str) -> None:
        super().__init__(message)
        self.offset = offset
        self.message = message


@dataclass
class Operand:
    """One argument of a command: `kind` is field, dot, var, ident, literal or pipe; `value` is
    the literal, the function or variable name, or the sub-pipeline; `fields` follow it."""

    offset: int
    kind: str
    value: Any = None
    fields: tuple[str, ...] = ()


@dataclass
class Pipeline:
    """`$x := cmd1 | cmd2 arg`: declared (or, with `assign`, assigned) variables and commands."""

    offset: int
    variables: tuple[str, ...]
    assign: bool
    commands: list[list[Operand]]


@dataclass
class Block:
    """An `if`, `range` or `with` block (`kind`) with its body and `else` branch."""

    offset: int
    kind: str
    pipeline: Pipeline
    body: list[Node] = field(default_factory=list)
    otherwise: list[Node] = field(default_factory=list)


Node = str | Pipeline | Block

_TOKEN = re.compile(
    r"""(?P<trimend>\s-\}\})|(?P<end>\}\})
    |(?P<space>\s+)
    |(?P<comment>/\*.*?\*/)
    |(?P<string>"(?:[^"\\\n]|\\.)*")
    |(?P<raw>`[^`]*`)
    |(?P<char>'(?:[^'\\\n]|\\.)+')
    |(?P<number>[+-]?(?:0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+
        |(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d+)?))
    |(?P<declare>:=)|(?P<assign>=)|(?P<pipe>\|)|(?P<open>\()|(?P<close>\))|(?P<comma>,)
    |(?P<var>\$[A-Za-z0-9_]*)
    |(?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+)
    |(?P<dot>\.)
    |(?P<ident>[A-Za-z_][A-Za-z0-9_]*)""",
    re.VERBOSE | re.DOTALL,
)
_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)", re.DOTALL)
KEYWORDS = frozenset({"if", "else", "end", "range", "with", "define", "template", "block"})
KEYWORDS_UNSUPPORTED = frozenset({"define", "template", "block", "break", "continue"})
Token = tuple[str, str, int]


def parse(source: str, functions: frozenset[str]) -> list[Node]:
    """The tree of `source`; names outside `functions` are errors, as in Go (at parse time)."""
    return _Parser(_lex(source), functions, len(source)).document()


def _lex(source: str) -> list[Token]:
    """Tokens: ("text", text, offset), the action's tokens, and ("end", "", offset) after each
    action. Trim markers are applied to the neighbouring text here."""
    tokens: list[Token] = []
    pos = 0
    trim_next = False
    while pos < len(source):
        start = source.find("{{", pos)
        text = source[pos : len(source) if start < 0 else start]
        if trim_next:
            text = text.lstrip(" \t\r\n")
        inner = start + 2
        if (
            start >= 0
            and source[inner : inner + 1] == "-"
            and source[inner + 1 : inner + 2] in (" ", "\t", "\r", "\n")
        ):
            text, inner = text.rstrip(" \t\r\n"), inner + 2
        if text:
            tokens.append(("text", text, pos))
        if start < 0:
            break
        pos, trim_next = _lex_action(source, start, inner, tokens)
    return tokens


def _lex_action(source: str, start: int, pos: int, tokens: list[Token]) -> tuple[int, bool]:
    """Lex one action from `pos` (after `{{` and its trim marker); return where the text goes
    on and whether its leading space is trimmed."""
    first = len(tokens)
    while True:
        match = _TOKEN.match(source, pos)
        if match is None:
            if pos >= len(source):
                raise TemplateError(start, "unclosed action")
            raise TemplateError(pos, f"unexpected {source[pos]!r} in action")
        kind, value = match.lastgroup or "", match.group()
        if kind in ("end", "trimend"):
            tokens.append(("end", "", match.start()))
            return match.end(), kind == "trimend"
        if kind == "comment" and len(tokens) > first:
            raise TemplateError(pos, "a comment must be alone in its action")
        if kind not in ("space", "comment"):
            tokens.append((kind, value, match.start()))
        pos = match.end()


def unquote(token: str, offset: int) -> str:
    """The value of a Go string or raw-string literal."""
    if token.startswith("`"):
        return token[1:-1]

    def escape(match: re.Match[str]) -> str:
        code = match.group(1)
        if code[0] in "xuU" and len(code) > 1:
            return chr(int(code[1:], 16))
        if code[0].isdigit():
            return chr(int(code, 8))
        if code in _ESCAPES:
            return _ESCAPES[code]
        if code in "\\\"'":
            return code
        raise TemplateError(offset, f"unknown escape sequence: \\{code}")

    return _ESCAPE.sub(escape, token[1:-1])


def number(token: str, offset: int) -> int | float:
    """The value of a Go number literal."""
    text = token.replace("_", "")
    try:
        if re.fullmatch(r"[+-]?0[xXbBoO].*", text):
            return int(text, 0)
        if re.fullmatch(r"[+-]?\d+", text):
            return int(text, 10)
        return float(text)
    except ValueError:
        raise TemplateError(offset, f"bad number syntax: {token!r}") from None


class _Parser:
    def __init__(self, tokens: list[Token], functions: frozenset[str], length: int) -> None:
        self.tokens = tokens
        self.functions = functions
        self.pos = 0
        self.length = length
        self.depth = 0

    def peek(self) -> Token:
        if self.pos < len(self.tokens):
            return self.tokens[self.pos]
        return ("eof", "", self.length)

    def take(self) -> Token:
        token = self.peek()
        self.pos += 1
        return token

    def document(self) -> list[Node]:
        nodes, closer = self.nodes()
        if closer is not None:
            raise TemplateError(closer[2], f"unexpected {{{{{closer[1]}}}}}")
        return nodes

    def nodes(self) -> tuple[list[Node], Token | None]:
        """Nodes up to EOF or an `{{else}}`/`{{end}}` (returned, its `end` token left)."""
        nodes: list[Node] = []
        while True:
            kind, value, offset = self.take()
            if kind == "eof":
                return nodes, None
            if kind == "text":
                nodes.append(value)
                continue
            if kind == "end":  # an empty action or a lone comment
                continue
            if kind == "ident" and value in ("else", "end"):
                return nodes, (kind, value, offset)
            if kind == "ident" and value in ("if", "range", "with"):
                nodes.append(self.block(value, offset))
                continue
            if kind == "ident" and value in KEYWORDS_UNSUPPORTED:
                raise TemplateError(offset, f"{{{{{value}}}}} is not supported in a config")
            self.pos -= 1
            nodes.append(self.pipeline(offset, declarations=True))
            self.expect_end()

    def deeper(self, offset: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise TemplateError(offset, f"nested more than {MAX_DEPTH} deep")

    def block(self, kind: str, offset: int) -> Block:
        self.deeper(offset)
        block = self.block_body(kind, offset)
        self.depth -= 1
        return block

    def block_body(self, kind: str, offset: int) -> Block:
        block = Block(offset, kind, self.pipeline(self.peek()[2], declarations=True))
        self.expect_end()
        block.body, closer = self.nodes()
        if closer is None:
            raise TemplateError(offset, f"unexpected EOF: {{{{{kind}}}}} without {{{{end}}}}")
        if closer[1] == "else":
            following = self.peek()
            if kind == "if" and following[:2] == ("ident", "if"):
                self.take()
                block.otherwise = [self.block("if", following[2])]
                return block  # the nested if consumed the shared {{end}}
            self.expect_end()
            block.otherwise, closer = self.nodes()
            if closer is None or closer[1] != "end":
                where = closer[2] if closer else offset
                raise TemplateError(where, f"expected {{{{end}}}} to close {{{{{kind}}}}}")
        self.expect_end()
        return block

    def expect_end(self) -> None:
        kind, value, offset = self.take()
        if kind != "end":
            raise TemplateError(offset, f"unexpected {value or kind!r} in action")

    def pipeline(self, offset: int, declarations: bool = False) -> Pipeline:
        variables: list[str] = []
        assign = False
        if declarations and self.peek()[0] == "var":
            save = self.pos
            names = [self.take()[1]]
            if self.peek()[0] == "comma":
                self.take()
                if self.peek()[0] == "var":
                    names.append(self.take()[1])
            if self.peek()[0] in ("declare", "assign"):
                assign = self.take()[0] == "assign"
                variables = names
            else:
                self.pos = save
        commands: list[list[Operand]] = []
        while True:
            command = self.command()
            if not command:
                raise TemplateError(self.peek()[2], "missing value for command")
            commands.append(command)
            if self.peek()[0] != "pipe":
                break
            self.take()
        return Pipeline(offset, tuple(variables), assign, commands)

    def command(self) -> list[Operand]:
        operands: list[Operand] = []
        while self.peek()[0] not in ("end", "pipe", "close", "eof"):
            operands.append(self.operand())
        return operands

    def operand(self) -> Operand:
        kind, value, offset = self.take()
        if kind == "field":
            return Operand(offset, "field", None, tuple(value[1:].split(".")))
        if kind == "dot":
            return Operand(offset, "dot")
        if kind == "var":
            return Operand(offset, "var", value, self.fields())
        if kind in ("string", "raw"):
            return Operand(offset, "literal", unquote(value, offset))
        if kind == "char":
            text = unquote(value, offset)
            if len(text) != 1:
                raise TemplateError(offset, f"malformed character constant: {value}")
            return Operand(offset, "literal", ord(text))
        if kind == "number":
            return Operand(offset, "literal", number(value, offset))
        if kind == "open":
            self.deeper(offset)
            inner = self.pipeline(offset)
            if self.take()[0] != "close":
                raise TemplateError(offset, "unclosed left paren")
            self.depth -= 1
            return Operand(offset, "pipe", inner, self.fields())
        if kind == "ident":
            literals = {"true": True, "false": False, "nil": None}
            if value in literals:
                return Operand(offset, "literal", literals[value])
            if value in KEYWORDS:
                raise TemplateError(offset, f"unexpected {{{{{value}}}}} in command")
            if value not in self.functions:
                raise TemplateError(offset, f'function "{value}" not defined')
            return Operand(offset, "ident", value)
        raise TemplateError(offset, f"unexpected {value or kind!r} in command")

    def fields(self) -> tuple[str, ...]:
        if self.peek()[0] == "field":
            return tuple(self.take()[1][1:].split("."))
        return ()
