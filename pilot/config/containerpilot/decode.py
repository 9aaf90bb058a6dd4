"""Reading ContainerPilot's decoded JSON5 as its Go decoder does (mapstructure with unknown
keys as errors and weakly typed input: "5" is an int, 5 is a string), collecting every error
with its place."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from pilot.config.durations import parse_duration
from pilot.config.errors import ConfigError


class Decoder:
    """Collects the errors of one file; each method returns a value or None after an error."""

    def __init__(self) -> None:
        self.errors: list[ConfigError] = []

    def fail(self, place: str, message: str) -> None:
        self.errors.append(ConfigError(place, message))

    def table(self, value: Any, place: str, keys: Iterable[str]) -> dict[str, Any] | None:
        """An object whose keys are all in `keys` (None when absent or wrong)."""
        if value is None:
            return None
        if not isinstance(value, dict):
            self.fail(place, f"must be an object, not {_show(value)}")
            return None
        known = set(keys)
        for key in value:
            if key not in known:
                hint = _nearest(key, known)
                where = f"{place}.{key}" if place else key
                self.fail(where, "unknown key (ContainerPilot refuses it)" + hint)
        return value

    def items(self, value: Any, place: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(place, f"must be a list, not {_show(value)}")
            return []
        return value

    def string(self, value: Any, place: str) -> str | None:
        """A string; numbers and booleans become strings as in Go's weak decoding."""
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "1" if value else "0"
        if isinstance(value, int | float) and math.isfinite(value):
            return str(int(value)) if value == int(value) else repr(value)
        self.fail(place, f"must be a string, not {_show(value)}")
        return None

    def strings(self, value: Any, place: str) -> list[str] | None:
        """A string or a list of strings, as ContainerPilot's `decode.ToStrings`."""
        if value is None:
            return None
        if isinstance(value, str):
            return [value]
        items = self.items(value, place)
        result = [self.string(item, f"{place}[{i}]") for i, item in enumerate(items)]
        return [item for item in result if item is not None]

    def integer(self, value: Any, place: str) -> int | None:
        """An int: a number (a fraction is truncated) or a string of digits."""
        if value is None:
            return None
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, float) and math.isfinite(value):
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip() or "x", 10)
            except ValueError:
                pass
        self.fail(place, f"must be a whole number of seconds, not {_show(value)}")
        return None

    def boolean(self, value: Any, place: str) -> bool | None:
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int | float):
            return value != 0
        if isinstance(value, str) and value.lower() in ("1", "t", "true", "0", "f", "false", ""):
            return value.lower() in ("1", "t", "true")
        self.fail(place, f"must be true or false, not {_show(value)}")
        return None

    def duration(self, value: Any, place: str, least: float = 0.0) -> float | None:
        """ContainerPilot's durations: a number or digits are seconds, else Go's units."""
        text = self.string(value, place)
        if text is None or text == "":
            return None
        try:
            seconds = parse_duration(text)
        except ValueError:
            self.fail(place, f'must be a duration like "5s" or a number of seconds, not {text!r}')
            return None
        if seconds < least:
            self.fail(place, f"{text!r} cannot be less than {least * 1000:g}ms")
            return None
        return seconds


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _nearest(key: str, known: set[str]) -> str:
    import difflib

    close = difflib.get_close_matches(key, sorted(known), n=1)
    return f' (did you mean "{close[0]}"?)' if close else ""
