"""Value kinds of configuration fields: each parses raw JSON5 data, dumps it back, and describes
itself as JSON Schema. A dataclass field names its kind in its metadata (see `setting`)."""

from __future__ import annotations

import dataclasses
import math
import re
import shlex
import signal
from abc import ABC, abstractmethod
from typing import Any

from pilot.config.durations import format_duration, parse_duration
from pilot.config.errors import ConfigError

Json = Any
NUL = "contains a NUL byte, which no path, argument or environment variable can hold"
MASK = "********"
LONGEST = 365 * 24 * 3600.0  # no duration is longer than a year: timers and Consul choke on more


class Kind(ABC):
    """How one field's value is read from the config, written back, and described.
    `placeholder` stands in for a required value that is missing or wrong, so that the rest of
    the config can still be checked (None: nothing can)."""

    placeholder: Any = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A kind that parses its own way does not inherit a bulk check that skips its own.
        if "parse" in vars(cls) and "parse_all" not in vars(cls):
            cls.parse_all = Kind.parse_all  # type: ignore[method-assign]

    @abstractmethod
    def parse(self, value: Json, place: str) -> Any:
        """The value as pilot uses it; raises ConfigError naming `place`."""

    def parse_all(self, values: list[Json]) -> list[Any] | None:
        """What `parse` gives for each of `values` when a check over all at once finds every
        one good; None when it cannot tell (then each is parsed alone, for its message)."""
        return None

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
    """A string; never one holding a NUL byte (it could not reach a path, argv or environ)."""

    placeholder = ""

    def __init__(self, nonempty: bool = True) -> None:
        self.nonempty = nonempty

    def parse(self, value: Json, place: str) -> str:
        if not isinstance(value, str):
            raise ConfigError(place, f"must be a string, not {typename(value)}")
        if self.nonempty and not value:
            raise ConfigError(place, "must not be empty")
        if "\0" in value:
            raise ConfigError(place, NUL)
        return value

    def parse_all(self, values: list[Json]) -> list[Any] | None:
        if not all_strings(values) or (self.nonempty and not all(values)):
            return None
        return None if "\0" in "".join(values) else values

    def schema(self) -> dict[str, Json]:
        return {"type": "string"}


class Secret(Str):
    """A string that is never printed, not even in an error about it."""

    def dump(self, value: Any) -> Json:
        return MASK if value else value


class EnvName(Str):
    """The name of an environment variable: not empty, no '=' (execve would split there)."""

    def parse(self, value: Json, place: str) -> str:
        name = super().parse(value, place)
        if "=" in name:
            raise ConfigError(place, "an environment variable name cannot contain '='")
        return name

    def parse_all(self, values: list[Json]) -> list[Any] | None:
        names = super().parse_all(values)
        return None if names is None or "=" in "".join(names) else names


_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASS|KEY|CREDENTIAL|AUTH|PRIVATE|COOKIE|SESSION", re.I)


def secret_name(name: str) -> bool:
    """Whether a variable or header name suggests its value is a credential (`pilot validate`
    masks it): TOKEN, SECRET, PASS(WORD), KEY, CREDENTIAL, AUTH, PRIVATE, COOKIE, SESSION."""
    return _SECRET_NAME.search(name) is not None


class Url(Str):
    """A URL whose password, if any, is never printed (as Go's URL.Redacted)."""

    def dump(self, value: Any) -> Json:
        return _URL_PASSWORD.sub(r"\1xxxxx@", value) if value else value


_URL_PASSWORD = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://[^/@:]*:)[^/@]*@")


class Bool(Kind):
    def parse(self, value: Json, place: str) -> bool:
        if not isinstance(value, bool):
            raise ConfigError(place, f"must be true or false, not {typename(value)}")
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
            raise ConfigError(place, f"must be an integer, not {typename(value)}")
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
    """Seconds, written "250ms", "5s", "1m"; a bare number is seconds. Finite, at most a year,
    and at least `minimum` (or more than 0 when `positive`)."""

    def __init__(
        self, positive: bool = False, minimum: float = 0.0, maximum: float = LONGEST
    ) -> None:
        self.positive, self.minimum, self.maximum = positive, minimum, maximum

    def parse(self, value: Json, place: str) -> float:
        try:
            seconds = parse_duration(value)
        except ValueError:
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(place, f"must be a finite duration, not {value}") from None
            raise ConfigError(place, f'must be a duration like "5s", not {value!r}') from None
        if seconds < self.minimum:
            raise ConfigError(place, f"must be at least {format_duration(self.minimum)}")
        if self.positive and seconds <= 0:
            raise ConfigError(place, "must be longer than 0s")
        if seconds > self.maximum:
            raise ConfigError(place, f"must be at most {format_duration(self.maximum)}")
        return seconds

    def dump(self, value: Any) -> Json:
        return format_duration(value)

    def schema(self) -> dict[str, Json]:
        return {"type": ["string", "number"], "pattern": r"^(\d+(\.\d+)?(ns|us|ms|s|m|h)?)+$"}


def signal_number(name: str) -> int | None:
    """The number of signal `name` ("SIGHUP", "HUP", "hup"), or None."""
    upper = name.upper()
    full = upper if upper.startswith("SIG") else "SIG" + upper
    number = getattr(signal.Signals, full, None) if full.isidentifier() else None
    return None if number is None else int(number)


class Signal(Kind):
    """A signal name ("SIGHUP" or "HUP"), stored as its number."""

    def __init__(self, allowed: frozenset[str] | None = None) -> None:
        self.allowed = allowed

    def parse(self, value: Json, place: str) -> int:
        if not isinstance(value, str):
            raise ConfigError(
                place, f'must be a signal name like "SIGTERM", not {typename(value)}'
            )
        number = signal_number(value)
        name = signal.Signals(number).name if number is not None else ""
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
        self.placeholder = choices[0]

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

    placeholder = ("false",)

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
        check_argv(argv, place)
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


def check_argv(argv: list[str], place: str) -> None:
    """Raise ConfigError when an argument holds a NUL byte (exec would refuse it)."""
    for i, arg in enumerate(argv):
        if "\0" in arg:
            raise ConfigError(place, f"argument {i} {NUL}")


class Text(Kind):
    """A scalar written into an environment variable: strings, finite numbers and booleans."""

    def parse(self, value: Json, place: str) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(place, f"must be a finite number, not {value}")
        if isinstance(value, str) and "\0" in value:
            raise ConfigError(place, NUL)
        if isinstance(value, str | int | float):
            return str(value)
        raise ConfigError(place, f"must be a string or a number, not {typename(value)}")

    def parse_all(self, values: list[Json]) -> list[Any] | None:
        types = set(map(type, values))
        if not types <= {str, int}:
            return None
        texts = values if int not in types else list(map(str, values))
        return None if "\0" in "".join(texts) else texts

    def dump(self, value: Any) -> Json:
        return _URL_PASSWORD.sub(r"\1xxxxx@", value)

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


def all_strings(values: list[Json]) -> bool:
    """Whether every one of `values` is a str."""
    return set(map(type, values)) <= {str}


def typename(value: Json) -> str:
    """How an error names the JSON type of `value` ("an object", "a list", ...)."""
    if isinstance(value, dict):  # also a parsed object, which remembers its repeated keys
        return "an object"
    return {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)
