"""Users and groups pilot runs jobs as or gives files to: they must exist, and pilot be root."""

from __future__ import annotations

import grp
import os
import pwd
from collections.abc import Iterator

from pilot.config.errors import ConfigError


def check_account(kind: str, name: str, place: str) -> Iterator[ConfigError]:
    """A `kind` ("user" or "group") that pilot, as root, can switch to or chown to."""
    if os.geteuid() != 0:
        yield ConfigError(place, "needs pilot to run as root")
        return
    lookup = pwd.getpwnam if kind == "user" else grp.getgrnam
    try:
        if not (name.isascii() and name.isdigit()):
            lookup(name)
    except KeyError:
        yield ConfigError(place, f"no such {kind} {name!r}")
