"""Go text/template, as ContainerPilot renders its config: the environment is the data (a
missing key renders empty), with its functions `default`, `env`, `split`, `join`, `replaceAll`,
`regexReplaceAll`, `loop` and Go's builtins. Errors name the line and column of the source."""

from __future__ import annotations

import html
import re
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

from pilot.gotemplate.gofmt import go_string, sprint, sprintf
from pilot.gotemplate.parse import (
    MAX_OUTPUT,
    MAX_STEPS,
    Block,
    Node,
    Operand,
    Pipeline,
    RenderError,
    TemplateError,
    parse,
)

__all__ = ["FUNCTIONS", "RenderError", "TemplateError", "environment_data", "render"]


def render(
    source: str,
    data: Mapping[str, str],
    environ: Mapping[str, str],
    filename: str = "config",
    limit: int = MAX_OUTPUT,
) -> str:
    """Render `source` with `data` as `.` (see `environment_data`); `env "X"` reads `environ`;
    the result is at most `limit` characters.

    Raises:
        RenderError: a parse or execution error, placed at `filename:line:column`.
    """
    functions = _functions(environ)
    try:
        tree = parse(source, frozenset(functions))
        out: list[str] = []
        _Executor(functions, data, limit).nodes(tree, data, out)
    except TemplateError as error:
        raise RenderError(place(source, error.offset, filename), error.message) from None
    return "".join(out)


def environment_data(environ: Mapping[str, str]) -> dict[str, str]:
    """The template's data as ContainerPilot builds it: `K=V=W` keeps only `V` (its bug #573,
    which configs may rely on; `env "K"` gives the whole value)."""
    return {key: value.split("=")[0] for key, value in environ.items()}


def place(source: str, offset: int, filename: str) -> str:
    """`filename:line:column` of `offset` in `source`."""
    line = source.count("\n", 0, offset) + 1
    return f"{filename}:{line}:{offset - (source.rfind(chr(10), 0, offset) + 1) + 1}"


def truth(value: Any) -> bool:
    """Go's truth: false, 0, nil and empty strings, lists and maps are false."""
    return bool(value) if value is not None else False


class _Executor:
    """Runs a parsed template; the result, each value and the iterations are bounded (MAX_*),
    so that no template runs for minutes or fills the memory."""

    def __init__(self, functions: Mapping[str, Callable[..., Any]], root: Any, limit: int) -> None:
        self.functions = functions
        self.limit = limit
        self.variables: list[tuple[str, Any]] = [("$", root)]
        self.size = 0
        self.steps = 0

    def nodes(self, nodes: list[Node], dot: Any, out: list[str]) -> None:
        for node in nodes:
            if isinstance(node, str):
                self.emit(node, 0, out)
            elif isinstance(node, Pipeline):
                value = self.pipeline(node, dot)
                if not node.variables:
                    self.emit(sprint([value]), node.offset, out)
            else:
                self.block(node, dot, out)

    def emit(self, text: str, offset: int, out: list[str]) -> None:
        self.size += len(text)
        if self.size > self.limit:
            raise TemplateError(offset, f"the result is longer than {self.limit} characters")
        out.append(text)

    def block(self, block: Block, dot: Any, out: list[str]) -> None:
        mark = len(self.variables)
        value = self.pipeline(block.pipeline, dot)
        if block.kind == "range":
            self.range(block, value, dot, out)
        elif not truth(value):
            self.nodes(block.otherwise, dot, out)
        else:
            self.nodes(block.body, value if block.kind == "with" else dot, out)
        del self.variables[mark:]

    def range(self, block: Block, value: Any, dot: Any, out: list[str]) -> None:
        if isinstance(value, dict):
            items = [(key, value[key]) for key in sorted(value)]
        elif isinstance(value, list):
            items = list(enumerate(value))
        elif value is None:
            items = []
        else:
            raise TemplateError(block.offset, f"range can't iterate over {sprint([value])}")
        if not items:
            self.nodes(block.otherwise, dot, out)
        names = block.pipeline.variables
        for key, element in items:
            self.steps += 1
            if self.steps > MAX_STEPS:
                raise TemplateError(block.offset, f"more than {MAX_STEPS} range iterations")
            mark = len(self.variables)
            if len(names) == 2:
                self.variables += [(names[0], key), (names[1], element)]
            elif names:
                self.variables.append((names[0], element))
            self.nodes(block.body, element, out)
            del self.variables[mark:]

    def pipeline(self, pipeline: Pipeline, dot: Any) -> Any:
        value: Any = _NONE
        for command in pipeline.commands:
            value = self.command(command, dot, value)
        if pipeline.assign:
            self.assign(pipeline.variables[0], value, pipeline.offset)
        elif pipeline.variables:
            self.variables.append((pipeline.variables[-1], value))
        return value

    def assign(self, name: str, value: Any, offset: int) -> None:
        for i in range(len(self.variables) - 1, -1, -1):
            if self.variables[i][0] == name:
                self.variables[i] = (name, value)
                return
        raise TemplateError(offset, f"undefined variable: {name}")

    def command(self, operands: list[Operand], dot: Any, final: Any) -> Any:
        head = operands[0]
        if head.kind == "ident":
            name = head.value
            if name in ("and", "or"):
                return self.logic(name, operands[1:], dot, final)
            args = [self.operand(arg, dot) for arg in operands[1:]]
            if final is not _NONE:
                args.append(final)
            try:
                result = self.functions[name](*args)
            except TemplateError as error:
                raise TemplateError(head.offset, f"error calling {name}: {error.message}") from None
            except TypeError:
                raise TemplateError(
                    head.offset, f"wrong number of args for {name}: got {len(args)}"
                ) from None
            if isinstance(result, str | list) and len(result) > MAX_OUTPUT:
                raise TemplateError(head.offset, f"{name}: result longer than {MAX_OUTPUT}")
            return result
        if len(operands) > 1 or final is not _NONE:
            raise TemplateError(head.offset, "can't give argument to non-function")
        return self.operand(head, dot)

    def logic(self, name: str, operands: list[Operand], dot: Any, final: Any) -> Any:
        """`and`/`or`: the first false (true) argument, else the last; short-circuiting."""
        if not operands and final is _NONE:
            raise TemplateError(0, f"{name}: no arguments")
        value: Any = None
        for arg in [*operands, None]:
            if arg is None and final is _NONE:
                break
            value = final if arg is None else self.operand(arg, dot)
            if truth(value) == (name == "or"):
                return value
        return value

    def operand(self, operand: Operand, dot: Any) -> Any:
        if operand.kind == "literal":
            return operand.value
        if operand.kind == "ident":  # a function called without arguments
            return self.command([operand], dot, _NONE)
        if operand.kind == "pipe":
            base = self.pipeline(operand.value, dot)
        elif operand.kind == "var":
            base = self.variable(operand.value, operand.offset)
        else:
            base = dot
        for name in operand.fields:
            base = self.field(base, name, operand.offset)
        return base

    def variable(self, name: str, offset: int) -> Any:
        for known, value in reversed(self.variables):
            if known == name:
                return value
        raise TemplateError(offset, f"undefined variable: {name}")

    @staticmethod
    def field(value: Any, name: str, offset: int) -> Any:
        if isinstance(value, dict):
            return value.get(name, "")  # missingkey=zero on a map of strings
        if value is None:
            raise TemplateError(offset, f"nil pointer evaluating .{name}")
        kind = _go_type(value)
        raise TemplateError(offset, f"can't evaluate field {name} in type {kind}")


class _None:
    """No value: what a pipeline's first command receives as its final argument."""


_NONE: Any = _None()


def _go_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "[]int" if value and isinstance(value[0], int) else "[]string"
    return "map[string]string"


def _string(value: Any, what: str = "string") -> str:
    if not isinstance(value, str):
        raise TemplateError(0, f"wrong type for value; expected {what}; got {_go_type(value)}")
    return value


def _integer(value: Any) -> int:
    if isinstance(value, str):
        try:
            if value != value.strip():
                raise ValueError(value)
            return int(value, 10)
        except ValueError:
            raise TemplateError(0, f'strconv.Atoi: parsing "{value}": invalid syntax') from None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise TemplateError(0, f"expected an integer, got {_go_type(value)}")


def _loop(*params: Any) -> list[int]:
    if len(params) not in (1, 2):
        raise TemplateError(
            0, f"loop: wrong number of arguments, expected 1 or 2, but got {len(params)}"
        )
    start, stop = (0, _integer(params[0])) if len(params) == 1 else map(_integer, params)
    if abs(stop - start) > MAX_STEPS:
        raise TemplateError(0, f"loop: {abs(stop - start)} items, more than {MAX_STEPS}")
    return list(range(start, stop, -1)) if stop < start else list(range(start, stop))


def _default(fallback: Any, value: Any = None) -> str:
    if isinstance(value, str) and value:
        return value
    return fallback if isinstance(fallback, str) else sprint([fallback])


def _split(sep: Any, text: Any) -> list[str]:
    text, sep = _string(text).strip(), _string(sep)
    if not text:
        return []
    return text.split(sep) if sep else list(text)


def _join(sep: Any, items: Any) -> str:
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise TemplateError(0, f"wrong type for value; expected []string; got {_go_type(items)}")
    separator = _string(sep)
    _bound(sum(map(len, items)) + len(separator) * max(len(items) - 1, 0))
    return separator.join(items)


def _replace_all(old: Any, new: Any, text: Any) -> str:
    before, after, source = _string(old), _string(new), _string(text)
    count = source.count(before) if before else len(source) + 1
    _bound(len(source) + count * (len(after) - len(before)))
    return source.replace(before, after)


def _bound(size: int) -> None:
    """Refuse to build a string longer than MAX_OUTPUT."""
    if size > MAX_OUTPUT:
        raise TemplateError(0, f"result longer than {MAX_OUTPUT} characters")


def _regex_replace_all(pattern: Any, replacement: Any, text: Any) -> str:
    """Go's `Regexp.ReplaceAllString`: RE2 (linear in the text, whatever the pattern), every
    non-overlapping match, an empty match right after a match not replaced; `$1`, `${1}`,
    `${name}` expand (a group that does not exist is empty) and `$$` is a `$`."""
    import re2  # only configs that call regexReplaceAll pay for it

    options = re2.Options()
    options.log_errors = False  # the error is ours to report
    try:
        compiled = re2.compile(_string(pattern), options)
    except re2.error as error:
        detail = error.args[0] if error.args else error
        detail = detail.decode(errors="replace") if isinstance(detail, bytes) else str(detail)
        raise TemplateError(0, f"error parsing regexp: {detail}") from None
    source, template = _string(text), _string(replacement)
    out: list[str] = []
    size, last_end, position = 0, 0, 0
    while position <= len(source):
        match = compiled.search(source, position)
        if match is None:
            break
        start, end = match.span()
        out.append(source[last_end:start])
        if end > last_end or start == 0:
            out.append(_expand(template, match, compiled.groupindex))
        size += len(out[-1]) + start - last_end
        _bound(size)
        last_end = end
        position = end if end > position else position + 1
    out.append(source[last_end:])
    return "".join(out)


_EXPANSION = re.compile(r"\$(?:\$|\{(\w+)\}|(\w+))")


def _expand(template: str, match: Any, names: Mapping[str, int]) -> str:
    def group(found: re.Match[str]) -> str:
        if found.group() == "$$":
            return "$"
        name = found.group(1) or found.group(2)
        index = int(name) if name.isdigit() else names.get(name)
        if index is None or index > len(match.groups()):
            return ""
        return str(match.group(index) or "")

    return _EXPANSION.sub(group, template)


def _index(item: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(item, dict):
            item = item.get(_string(key), "")
        elif isinstance(item, list | str) and isinstance(key, int):
            if not 0 <= key < len(item):
                raise TemplateError(0, f"index out of range: {key}")
            item = ord(item[key]) if isinstance(item, str) else item[key]
        else:
            raise TemplateError(0, f"can't index item of type {_go_type(item)}")
    return item


def _compare(name: str, test: Callable[[Any, Any], bool]) -> Callable[..., bool]:
    def compare(first: Any, *others: Any) -> bool:
        if not others:
            raise TemplateError(0, "missing argument for comparison")
        for other in others:
            if _go_type(first) != _go_type(other) and not (
                isinstance(first, int | float) and isinstance(other, int | float)
            ):
                raise TemplateError(0, "incompatible types for comparison")
            if name != "eq" and isinstance(first, bool | list | dict):
                raise TemplateError(0, "invalid type for comparison")
            if test(first, other):
                if name == "eq":
                    return True
            elif name != "eq":
                return False
        return name != "eq"

    return compare


def _functions(environ: Mapping[str, str]) -> dict[str, Callable[..., Any]]:
    return {
        "default": _default,
        "env": lambda name: environ.get(_string(name), ""),
        "split": _split,
        "join": _join,
        "replaceAll": _replace_all,
        "regexReplaceAll": _regex_replace_all,
        "loop": _loop,
        "not": lambda value: not truth(value),
        "len": lambda value: len(value) if isinstance(value, str | list | dict) else _bad_len(),
        "index": _index,
        "print": lambda *args: sprint(list(args)),
        "println": lambda *args: " ".join(sprint([arg]) for arg in args) + "\n",
        "printf": lambda fmt, *args: sprintf(_string(fmt), list(args)),
        "html": lambda *args: html.escape(sprint(list(args))).replace("&#x27;", "&#39;"),
        "urlquery": lambda *args: urllib.parse.quote_plus(sprint(list(args))),
        "js": lambda *args: go_string(sprint(list(args)))[1:-1],
        "eq": _compare("eq", lambda a, b: bool(a == b)),
        "ne": _compare("ne", lambda a, b: bool(a != b)),
        "lt": _compare("lt", lambda a, b: bool(a < b)),
        "le": _compare("le", lambda a, b: bool(a <= b)),
        "gt": _compare("gt", lambda a, b: bool(a > b)),
        "ge": _compare("ge", lambda a, b: bool(a >= b)),
        "and": lambda *args: args,  # short-circuited by the executor; listed for the parser
        "or": lambda *args: args,
    }


def _bad_len() -> int:
    raise TemplateError(0, "len of this type is not defined")


FUNCTIONS = frozenset(_functions({}))
