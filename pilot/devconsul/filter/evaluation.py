"""Consul's `?filter=` on the JSON it answers: selectors are checked against the shape of the
endpoint's records when the filter is made (go-bexpr 0.1's CreateFilter), then each record is
kept or dropped. The rules are go-bexpr 0.1.2's (the version Consul uses): a selector through
a list matches when any element does; a missing map key makes `==`, `is not empty`, `in`
and `contains` false and every other operator true (`matches` too); `in`/`contains` are
substring tests on strings, membership on lists, key tests on maps; `matches` is an
unanchored search with Go's regular expressions (RE2: see `go.regexp`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from pilot.devconsul.filter.grammar import (
    EMPTY,
    EQUAL,
    IN,
    MATCHES,
    NOT_EMPTY,
    NOT_EQUAL,
    NOT_IN,
    NOT_MATCHES,
    Binary,
    Expression,
    FilterSyntaxError,
    Match,
    Not,
)
from pilot.devconsul.go.regexp import GoRegexpError, Pattern, compile_go

T = TypeVar("T")
MAP_FIELDS = frozenset(
    {"Meta", "NodeMeta", "ServiceMeta", "TaggedAddresses", "ServiceTaggedAddresses"}
)
_PRIMITIVE_OPERATORS = {EQUAL, NOT_EQUAL, IN, NOT_IN, EMPTY, NOT_EMPTY, MATCHES, NOT_MATCHES}
_COLLECTION_OPERATORS = {IN, NOT_IN, EMPTY, NOT_EMPTY}


@dataclass(frozen=True)
class Shape:
    """The type of a value: "string", "int", "float", "bool", "struct", "list" or "map"."""

    kind: str
    fields: dict[str, Shape] | None = None  # struct fields
    item: Shape | None = None  # list element, map value


def shape_of(sample: Any, name: str = "") -> Shape:
    """The shape of a sample JSON value (a record with every optional field present)."""
    if isinstance(sample, bool):
        return Shape("bool")
    if isinstance(sample, int):
        return Shape("int")
    if isinstance(sample, float):
        return Shape("float")
    if isinstance(sample, list):
        return Shape("list", item=shape_of(sample[0]) if sample else Shape("string"))
    if isinstance(sample, dict):
        if name in MAP_FIELDS:
            first = next(iter(sample.values()), "")
            return Shape("map", item=shape_of(first))
        return Shape("struct", fields={k: shape_of(v, k) for k, v in sample.items()})
    return Shape("string")


class Filter:
    """A compiled filter for records of one shape."""

    def __init__(self, expression: Expression, shape: Shape) -> None:
        self.expression, self.shape = expression, shape
        self._patterns: dict[str, Pattern] = {}
        self._validate(expression)

    def keep(self, record: Any) -> bool:
        """Whether `record` passes."""
        return self._evaluate(self.expression, record)

    def apply(self, records: Iterable[T], view: Callable[[T], Any]) -> list[T]:
        """The records whose JSON `view` passes."""
        return [record for record in records if self.keep(view(record))]

    # --- creation ------------------------------------------------------------------------

    def _validate(self, expression: Expression) -> None:
        if isinstance(expression, Binary):
            for operand in expression.operands:
                self._validate(operand)
        elif isinstance(expression, Not):
            self._validate(expression.operand)
        else:
            self._validate_match(expression)

    def _validate_match(self, match: Match) -> None:
        name = ".".join(match.selector)
        shape = self.shape
        for part in match.selector:
            while shape.kind == "list" and shape.item is not None:
                shape = shape.item
            if shape.kind == "struct" and shape.fields and part in shape.fields:
                shape = shape.fields[part]
            elif shape.kind == "map" and shape.item is not None:
                shape = shape.item
            else:
                raise FilterSyntaxError(f'Selector "{name}" is not valid')
        allowed = _COLLECTION_OPERATORS if shape.kind in ("list", "map") else _PRIMITIVE_OPERATORS
        if (
            shape.kind == "struct"
            or match.operator not in allowed
            or (match.operator in (MATCHES, NOT_MATCHES) and shape.kind != "string")
        ):
            raise FilterSyntaxError(
                f'Invalid match operator "{match.operator}" for selector "{name}"'
            )
        leaf = shape.item if shape.kind == "list" and shape.item is not None else shape
        if match.value is not None and shape.kind != "map":
            _coerce(match.value, leaf.kind, name)
        if match.operator in (MATCHES, NOT_MATCHES) and match.value is not None:
            try:
                self._patterns[match.value] = compile_go(match.value)
            except GoRegexpError as error:
                raise FilterSyntaxError(
                    f"Failed to compile regular expression {_go_quote(match.value)}: {error}"
                ) from None

    # --- evaluation ----------------------------------------------------------------------

    def _evaluate(self, expression: Expression, record: Any) -> bool:
        if isinstance(expression, Binary):
            results = (self._evaluate(operand, record) for operand in expression.operands)
            return all(results) if expression.operator == "and" else any(results)
        if isinstance(expression, Not):
            return not self._evaluate(expression.operand, record)
        return self._match(expression, 0, record, self.shape)

    def _match(self, match: Match, depth: int, value: Any, shape: Shape) -> bool:
        if shape.kind == "list" and depth < len(match.selector) and shape.item is not None:
            return any(self._match(match, depth, item, shape.item) for item in value or [])
        if depth == len(match.selector):
            return self._leaf(match, value, shape)
        part = match.selector[depth]
        if shape.kind == "map" and shape.item is not None:
            if not isinstance(value, dict) or part not in value:
                # go-bexpr 0.1.2 (evaluate.go): only ==, "is not empty" and in/contains are
                # false for a missing key; every other operator, `matches` too, is true.
                return match.operator not in (EQUAL, NOT_EMPTY, IN)
            return self._match(match, depth + 1, value[part], shape.item)
        assert shape.fields is not None
        field = shape.fields[part]
        inner = value.get(part) if isinstance(value, dict) else None
        return self._match(match, depth + 1, _zero(field) if inner is None else inner, field)

    def _leaf(self, match: Match, value: Any, shape: Shape) -> bool:
        operator, raw = match.operator, match.value or ""
        if operator in (EMPTY, NOT_EMPTY):
            return (len(value or "") == 0) == (operator == EMPTY)
        if operator in (MATCHES, NOT_MATCHES):
            found = self._patterns[raw].search(str(value)) is not None
            return found == (operator == MATCHES)
        if operator in (IN, NOT_IN):
            if shape.kind == "string":
                found = raw in value
            elif shape.kind == "map":
                found = raw in (value or {})
            else:
                item = shape.item.kind if shape.item is not None else "string"
                found = _coerce(raw, item, "") in (value or [])
            return found == (operator == IN)
        return bool(value == _coerce(raw, shape.kind, "")) == (operator == EQUAL)


def _coerce(raw: str, kind: str, selector: str) -> Any:
    """The value as the selected field's type (go-bexpr's coercion, at creation)."""
    try:
        if kind == "int":
            return int(raw, 0)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            lowered = {"1": True, "t": True, "true": True, "0": False, "f": False, "false": False}
            return lowered[raw.lower()]
    except (ValueError, KeyError):
        raise FilterSyntaxError(
            f'Failed to coerce value "{raw}" for selector "{selector}": invalid syntax'
        ) from None
    return raw


def _go_quote(text: str) -> str:
    """Go's %q of a string, for the common cases."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _zero(shape: Shape) -> Any:
    return {"string": "", "int": 0, "float": 0.0, "bool": False, "list": []}.get(shape.kind, {})
