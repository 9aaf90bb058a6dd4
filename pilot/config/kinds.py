"""Value kinds of configuration fields: each parses raw JSON5 data, dumps it back, and describes
itself as JSON Schema. A dataclass field names its kind in its metadata (see `setting`)."""

from __future__ import annotations

import dataclasses
import difflib
import re
import shlex
import signal
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, TypeVar

from pilot.config.durations import format_duration, parse_duration
from pilot.config.errors import ConfigError

T = TypeVar("T")
Json = Any


class Kind(ABC):
    """How one field's value is read from the config, written back, and described."""

    @abstractmethod
    def parse(self, value: Json, place: str) -> Any:
        """The value as pilot uses it; raises ConfigError naming `place`."""

    def dump(self, value: Any) -> Json:
        """The value as `pilot validate` prints it."""
        return value

    @abstractmethod
    def schema(self) -> dict[str, Json]:
        """JSON Schema of the raw value."""


def setting(
    kind: Kind, doc: str, default: Any = dataclasses.MISSING, factory: Any = dataclasses.MISSING
) -> Any:
    """A dataclass field read from the config as `kind`, documented by `doc`."""
    meta = {"kind": kind, "doc": doc}
    if factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


class Str(Kind):
    def __init__(self, nonempty: bool = True) -> None:
        self.nonempty = nonempty

    def parse(self, value: Json, place: str) -> str:
        if not isinstance(value, str):
            raise ConfigError(place, f"must be a string, not {_typename(value)}")
        if self.nonempty and not value:
            raise ConfigError(place, "must not be empty")
        return value

    def schema(self) -> dict[str, Json]:
        return {"type": "string"}


class Secret(Str):
    """A string that is never printed."""

    def dump(self, value: Any) -> Json:
        return "********" if value else value


class Url(Str):
    """A URL whose password, if any, is never printed (as Go's URL.Redacted)."""

    def dump(self, value: Any) -> Json:
        return _URL_PASSWORD.sub(r"\1xxxxx@", value) if value else value


_URL_PASSWORD = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://[^/@:]*:)[^/@]*@")


class Bool(Kind):
    def parse(self, value: Json, place: str) -> bool:
        if not isinstance(value, bool):
            raise ConfigError(place, f"must be true or false, not {_typename(value)}")
        return value

    def schema(self) -> dict[str, Json]:
        return {"type": "boolean"}


class Int(Kind):
    """An integer; a string of digits is accepted too, so `"${PORT}"` works."""

    def __init__(self, minimum: int | None = None, maximum: int | None = None) -> None:
        self.minimum, self.maximum = minimum, maximum

    def parse(self, value: Json, place: str) -> int:
        if isinstance(value, str) and re.fullmatch(r"\s*-?[0-9]+\s*", value):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(place, f"must be an integer, not {_typename(value)}")
        if self.minimum is not None and value < self.minimum:
            raise ConfigError(place, f"must be at least {self.minimum}")
        if self.maximum is not None and value > self.maximum:
            raise ConfigError(place, f"must be at most {self.maximum}")
        return value

    def schema(self) -> dict[str, Json]:
        out: dict[str, Json] = {"type": ["integer", "string"]}
        if self.minimum is not None:
            out["minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        return out


class Duration(Kind):
    """Seconds, written "250ms", "5s", "1m"; a bare number is seconds."""

    def __init__(self, positive: bool = False) -> None:
        self.positive = positive

    def parse(self, value: Json, place: str) -> float:
        try:
            seconds = parse_duration(value)
        except ValueError:
            raise ConfigError(place, f'must be a duration like "5s", not {value!r}') from None
        if self.positive and seconds <= 0:
            raise ConfigError(place, "must be longer than 0s")
        return seconds

    def dump(self, value: Any) -> Json:
        return format_duration(value)

    def schema(self) -> dict[str, Json]:
        return {"type": ["string", "number"], "pattern": r"^(\d+(\.\d+)?(ns|us|ms|s|m|h)?)+$"}


class Signal(Kind):
    """A signal name ("SIGHUP" or "HUP"), stored as its number."""

    def __init__(self, allowed: frozenset[str] | None = None) -> None:
        self.allowed = allowed

    def parse(self, value: Json, place: str) -> int:
        if not isinstance(value, str):
            raise ConfigError(
                place, f'must be a signal name like "SIGTERM", not {_typename(value)}'
            )
        name = value.upper() if value.upper().startswith("SIG") else "SIG" + value.upper()
        number = getattr(signal.Signals, name, None) if name.isidentifier() else None
        if number is None or (self.allowed is not None and name not in self.allowed):
            choices = sorted(self.allowed) if self.allowed else []
            hint = f" (one of {', '.join(choices)})" if choices else ""
            raise ConfigError(place, f"{value!r} is not a signal name{hint}")
        return int(number)

    def dump(self, value: Any) -> Json:
        return signal.Signals(value).name

    def schema(self) -> dict[str, Json]:
        return {"type": "string", "pattern": "^(SIG)?[A-Z0-9]+$"}


class Choice(Kind):
    def __init__(self, *choices: str) -> None:
        self.choices = choices

    def parse(self, value: Json, place: str) -> str:
        if value not in self.choices:
            raise ConfigError(
                place, f"must be one of {', '.join(map(repr, self.choices))}, not {value!r}"
            )
        return str(value)

    def schema(self) -> dict[str, Json]:
        return {"enum": list(self.choices)}


class Argv(Kind):
    """A command: a list of strings, or a string split as the shell would (no shell runs it)."""

    def parse(self, value: Json, place: str) -> tuple[str, ...]:
        if isinstance(value, str):
            try:
                argv = shlex.split(value)
            except ValueError as error:
                raise ConfigError(place, f"cannot split command: {error}") from None
        elif isinstance(value, list) and all(isinstance(arg, str) for arg in value):
            argv = list(value)
        else:
            raise ConfigError(place, "must be a command: a string or a list of strings")
        if not argv or not argv[0]:
            raise ConfigError(place, "must not be empty")
        return tuple(argv)

    def dump(self, value: Any) -> Json:
        return list(value)

    def schema(self) -> dict[str, Json]:
        return {
            "oneOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "string"}, "minItems": 1},
            ]
        }


class ListOf(Kind):
    def __init__(self, item: Kind, single_ok: bool = False) -> None:
        self.item, self.single_ok = item, single_ok

    def parse(self, value: Json, place: str) -> tuple[Any, ...]:
        if self.single_ok and not isinstance(value, list):
            value = [value]
        if not isinstance(value, list):
            raise ConfigError(place, f"must be a list, not {_typename(value)}")
        return tuple(self.item.parse(item, f"{place}[{i}]") for i, item in enumerate(value))

    def dump(self, value: Any) -> Json:
        return [self.item.dump(item) for item in value]

    def schema(self) -> dict[str, Json]:
        many: dict[str, Json] = {"type": "array", "items": self.item.schema()}
        return {"anyOf": [self.item.schema(), many]} if self.single_ok else many


class MapOf(Kind):
    """An object with free keys; values of one kind. Stored as a sorted tuple of pairs."""

    def __init__(self, value_kind: Kind, key_kind: Kind | None = None) -> None:
        self.value_kind, self.key_kind = value_kind, key_kind

    def parse(self, value: Json, place: str) -> tuple[tuple[Any, Any], ...]:
        if not isinstance(value, dict):
            raise ConfigError(place, f"must be an object, not {_typename(value)}")
        pairs = []
        for key, item in value.items():
            parsed_key = self.key_kind.parse(key, f"{place}.{key}") if self.key_kind else key
            pairs.append((parsed_key, self.value_kind.parse(item, f"{place}.{key}")))
        return tuple(sorted(pairs, key=lambda pair: str(pair[0])))

    def dump(self, value: Any) -> Json:
        return {str(key): self.value_kind.dump(item) for key, item in value}

    def schema(self) -> dict[str, Json]:
        return {"type": "object", "additionalProperties": self.value_kind.schema()}


class Text(Kind):
    """A scalar written into an environment variable: strings, numbers and booleans."""

    def parse(self, value: Json, place: str) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str | int | float):
            return str(value)
        raise ConfigError(place, f"must be a string or a number, not {_typename(value)}")

    def schema(self) -> dict[str, Json]:
        return {"type": ["string", "number", "boolean"]}


class FileMode(Kind):
    """A permission mode written in octal: "0644" (or 644)."""

    def parse(self, value: Json, place: str) -> int:
        text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
        if isinstance(text, str) and text and len(text) <= 4 and all(c in "01234567" for c in text):
            return int(text, 8)
        raise ConfigError(place, f'must be an octal mode like "0600", not {value!r}')

    def dump(self, value: Any) -> Json:
        return f"{value:04o}"

    def schema(self) -> dict[str, Json]:
        return {"type": ["string", "integer"], "pattern": "^[0-7]{1,4}$"}


class Obj(Kind):
    """A nested section described by a frozen dataclass whose fields carry `setting` metadata."""

    def __init__(
        self, cls: type[Any], shorthand: Callable[[Json, str], Json] | None = None
    ) -> None:
        self.cls, self.shorthand = cls, shorthand

    def parse(self, value: Json, place: str) -> Any:
        if self.shorthand is not None and not isinstance(value, dict):
            value = self.shorthand(value, place)
        return parse_section(self.cls, value, place)

    def dump(self, value: Any) -> Json:
        return dump_section(value)

    def schema(self) -> dict[str, Json]:
        return section_schema(self.cls)


def fields_of(cls: type[Any]) -> list[dataclasses.Field[Any]]:
    """The config fields of a section dataclass (those with a kind)."""
    return [f for f in dataclasses.fields(cls) if "kind" in f.metadata]


def parse_section(cls: type[T], value: Json, place: str) -> T:
    """Build dataclass `cls` from a JSON object, naming `place` in every error."""
    if not isinstance(value, dict):
        raise ConfigError(place, f"must be an object, not {_typename(value)}")
    known = {f.name: f for f in fields_of(cls)}
    for key in value:
        if key not in known:
            close = difflib.get_close_matches(str(key), list(known), n=1, cutoff=0.6)
            hint = (
                f' (did you mean "{close[0]}"?)' if close else f" (known keys: {', '.join(known)})"
            )
            raise ConfigError(_join(place, str(key)), f"unknown key{hint}")
    kwargs = {}
    for name, f in known.items():
        if name in value:
            kwargs[name] = f.metadata["kind"].parse(value[name], _join(place, name))
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(_join(place, name), "is required")
    return cls(**kwargs)


def dump_section(value: Any) -> dict[str, Json]:
    """The normalised JSON form of a section (secrets masked, durations with units)."""
    out = {}
    for f in fields_of(type(value)):
        item = getattr(value, f.name)
        out[f.name] = None if item is None else f.metadata["kind"].dump(item)
    return out


def section_schema(cls: type[Any]) -> dict[str, Json]:
    """JSON Schema of a section dataclass."""
    properties = {}
    required = []
    for f in fields_of(cls):
        properties[f.name] = {**f.metadata["kind"].schema(), "description": f.metadata["doc"]}
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(f.name)
    out: dict[str, Json] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        out["required"] = required
    if cls.__doc__:
        out["description"] = cls.__doc__.strip().splitlines()[0]
    return out


def _join(place: str, key: str) -> str:
    return f"{place}.{key}" if place else key


def _typename(value: Json) -> str:
    return {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)
