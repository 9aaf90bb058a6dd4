"""The one error type a bad configuration produces, and the list of them one pass finds."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class ConfigError(Exception):
    """A configuration problem, located by `place` (`jobs[2].stop.timeout`, `pilot.json5:3:8`)."""

    def __init__(self, place: str, message: str) -> None:
        super().__init__(f"{place}: {message}" if place else message)
        self.place = place
        self.message = message

    @property
    def errors(self) -> tuple[ConfigError, ...]:
        """Every problem this error stands for: itself, unless it is a ConfigErrors."""
        return (self,)


class ConfigErrors(ConfigError):
    """Several problems found in one pass, in the order of the file; `place` and `message` are
    the first one's. `partial` is what could be built regardless (failed values replaced by
    their defaults), or None when something required could not be built."""

    def __init__(self, errors: Iterable[ConfigError], partial: Any = None) -> None:
        self.all = tuple(one for error in errors for one in error.errors)
        super().__init__(self.all[0].place, self.all[0].message)
        self.partial = partial

    def __str__(self) -> str:
        return "; ".join(str(error) for error in self.all)

    @property
    def errors(self) -> tuple[ConfigError, ...]:
        return self.all


def related(place: str, other: str) -> bool:
    """Whether one place lies inside the other (`jobs` and `jobs[1].when`), or both are in the
    same entry (`jobs[1].exec` and `jobs[1].when.source`) or top-level section."""
    short, long = sorted((place, other), key=len)
    if not short or long == short or long.startswith((short + ".", short + "[")):
        return True
    return _entry(place) == _entry(other)


def _entry(place: str) -> str:
    end = place.find("]")
    return place[: end + 1] if end >= 0 else place.split(".")[0]
