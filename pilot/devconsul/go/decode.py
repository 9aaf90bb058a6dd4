"""Request bodies decoded as Consul's Go decoder does (`lib.DecodeJSON`).

Field names match case-insensitively, the snake_case aliases Consul declares are accepted,
an unknown field is an error (`DisallowUnknownFields`), and JSON `null` leaves a field unset.
Errors carry Go's wording; the routes prefix them with "Request decode failed: ".
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pilot.devconsul.go.durations import parse_go_duration

PYTHON_JSON_DEPTH = 900  # below the interpreter's recursion limit, with room for the stack

# Scalar kinds, by the Go type named in error messages.
STRING, INT, UINT, BOOL = "string", "int", "uint64", "bool"
STRINGS, STRING_MAP, HEADERS = "[]string", "map[string]string", "map[string][]string"
DURATION = "time.Duration"  # a Go duration string, or a number of nanoseconds
ANY = "interface {}"  # accepted as it is


class DecodeError(ValueError):
    """A body Consul's decoder would refuse; the text is Go's."""


@dataclass(frozen=True)
class Struct:
    """A Go struct as the decoder sees it: canonical field names, kinds and extra aliases."""

    name: str
    fields: Mapping[str, Kind]
    aliases: Mapping[str, str] = field(default_factory=dict)
    package: str = "structs"  # Go names the top-level type with its package

    def lookup(self, key: str) -> str | None:
        """The canonical field a JSON key names, if any."""
        if key in self.fields:
            return key
        folded = key.lower()
        for name in self.fields:
            if name.lower() == folded:
                return name
        return self.aliases.get(folded)


@dataclass(frozen=True)
class ListOf:
    """A Go slice of structs."""

    item: Struct


@dataclass(frozen=True)
class MapOf:
    """A Go map from strings to structs."""

    item: Struct


Kind = str | Struct | ListOf | MapOf


def parse_body(body: bytes) -> Any:
    """The first JSON value of a body (Go's Decoder ignores anything after it)."""
    text = body.decode("utf-8", "replace").lstrip(" \t\r\n")
    if not text:
        raise DecodeError("EOF")
    try:
        value, _ = json.JSONDecoder().raw_decode(text)
    except RecursionError:
        raise DecodeError(nesting_error(text)) from None
    except json.JSONDecodeError as error:
        if error.pos >= len(text):
            raise DecodeError("unexpected EOF") from None
        context = _scanner_context(error.msg, text[: error.pos])
        raise DecodeError(f"invalid character {text[error.pos]!r} {context}") from None
    return value


def _scanner_context(python_message: str, before: str) -> str:
    """What Go's JSON scanner was looking for where Python's parser stopped."""
    if python_message.startswith("Expecting property name"):
        return "looking for beginning of object key string"
    if python_message.startswith("Expecting ':'"):
        return "after object key"
    if python_message.startswith("Expecting ','"):
        inner = _innermost_bracket(before)
        return "after array element" if inner == "[" else "after object key:value pair"
    return "looking for beginning of value"


def _innermost_bracket(text: str) -> str:
    """The innermost bracket still open at the end of `text`, strings skipped."""
    stack: list[str] = []
    in_string = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif in_string:
            escaped, in_string = char == "\\", char != '"'
        elif char == '"':
            in_string = True
        elif char in "[{":
            stack.append(char)
        elif char in "]}" and stack:
            stack.pop()
    return stack[-1] if stack else ""


def decode(value: Any, struct: Struct) -> dict[str, Any]:
    """A JSON object as `struct`: canonical keys, checked kinds, nulls dropped."""
    if value is None:  # Go leaves the struct as it is
        return {}
    if not isinstance(value, dict):
        raise DecodeError(
            f"json: cannot unmarshal {_json_type(value)} into Go value of type "
            f"{struct.package}.{struct.name}"
        )
    out: dict[str, Any] = {}
    for key, raw in value.items():
        name = struct.lookup(key)
        if name is None:
            raise DecodeError(f'json: unknown field "{key}"')
        converted = (
            None if raw is None else _convert(raw, struct.fields[name], struct.name + "." + name)
        )
        if converted is None:
            out.pop(name, None)
        else:
            out[name] = converted
    return out


def _convert(raw: Any, kind: Kind, where: str) -> Any:
    if isinstance(kind, Struct):
        return decode(raw, kind)
    if isinstance(kind, ListOf):
        items = _expect(raw, list, where, f"[]{kind.item.name}")
        return [decode(item, kind.item) for item in items if item is not None]
    if isinstance(kind, MapOf):
        entries = _expect(raw, dict, where, f"map[string]{kind.item.name}")
        return {k: decode(v, kind.item) for k, v in entries.items() if v is not None}
    if kind == ANY:
        return raw
    if kind == DURATION:
        return _duration(raw)
    if kind == STRING:
        return _expect(raw, str, where, STRING)
    if kind == BOOL:
        return _expect(raw, bool, where, BOOL)
    if kind in (INT, UINT):
        return _integer(raw, kind, where)
    if kind == STRINGS:
        items = _expect(raw, list, where, STRINGS)
        return [_expect(item, str, where, STRING) for item in items]
    if kind == STRING_MAP:
        entries = _expect(raw, dict, where, STRING_MAP)
        return {k: _expect(v, str, where, STRING) for k, v in entries.items()}
    if kind == HEADERS:
        entries = _expect(raw, dict, where, HEADERS)
        return {k: _convert(v, STRINGS, where) for k, v in entries.items()}
    raise AssertionError(f"unknown kind {kind!r}")


def _expect(raw: Any, python_type: type | tuple[type, ...], where: str, go_type: str) -> Any:
    if isinstance(raw, python_type) and (python_type is bool or not isinstance(raw, bool)):
        return raw
    raise DecodeError(
        f"json: cannot unmarshal {_json_type(raw)} into Go struct field {where} of type {go_type}"
    )


def _integer(raw: Any, kind: str, where: str) -> int:
    number = _expect(raw, (int, float), where, kind)
    if (isinstance(number, float) and not number.is_integer()) or (kind == UINT and number < 0):
        raise DecodeError(
            f"json: cannot unmarshal number {raw} into Go struct field {where} of type {kind}"
        )
    return int(number)


def _duration(raw: Any) -> int | None:
    """CheckType's own rule: a string is parsed, a number is nanoseconds, the rest ignored."""
    if isinstance(raw, str):
        try:
            return parse_go_duration(raw)
        except ValueError as error:
            raise DecodeError(str(error)) from None
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return int(raw)
    return None


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def nesting_error(text: str, limit: int = PYTHON_JSON_DEPTH) -> str:
    """Go's decoder error for JSON nested deeper than `limit`: Python's decoder gives up
    sooner than Go's (10000 levels), and consul-dev refuses from there with Go's text."""
    depth, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return f"invalid character '{char}' exceeded max depth"
        elif char in "]}":
            depth -= 1
    return "invalid character '[' exceeded max depth"


def decode_base64(text: str) -> bytes:
    """Go's base64.StdEncoding.DecodeString.

    Raises:
        DecodeError: "illegal base64 data at input byte N", where Go gives up.
    """
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        raise DecodeError(f"illegal base64 data at input byte {_bad_byte(text)}") from None


def _bad_byte(text: str) -> int:
    alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
    for i, char in enumerate(text.rstrip("=")):
        if char not in alphabet:
            return i
    return len(text.rstrip("=")) // 4 * 4
