"""The port kind of `port` settings: a TCP port, or "auto" for one `pilot up` picks and keeps.
A module of its own so that every section with a port (a job's, a callback's) can use it."""

from __future__ import annotations

from typing import Any

from pilot.config.errors import ConfigError
from pilot.config.kinds import Int, Json

AUTO_PORT = 0  # how `port: "auto"` is stored until `pilot up` assigns the kept port


class Port(Int):
    """A TCP port, or "auto" (stored as AUTO_PORT): `pilot up` picks a free one and keeps it."""

    def __init__(self) -> None:
        super().__init__(1, 65535)

    def parse(self, value: Json, place: str) -> int:
        if value == "auto":
            return AUTO_PORT
        try:
            return super().parse(value, place)
        except ConfigError as error:
            raise ConfigError(place, f'{error.message} (or "auto")') from None

    def dump(self, value: Any) -> Json:
        return "auto" if value == AUTO_PORT else value

    def schema(self) -> dict[str, Json]:
        return {"oneOf": [{"const": "auto"}, super().schema()]}
