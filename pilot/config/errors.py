"""The one error type a bad configuration produces."""

from __future__ import annotations


class ConfigError(Exception):
    """A configuration problem, located by `place` (`jobs[2].stop.timeout`, `pilot.json5:3:8`)."""

    def __init__(self, place: str, message: str) -> None:
        super().__init__(f"{place}: {message}" if place else message)
        self.place = place
        self.message = message
