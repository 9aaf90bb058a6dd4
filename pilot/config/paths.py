"""Destinations pilot writes by renaming a temp file over them (files, templates)."""

from __future__ import annotations

import os

from pilot.config.errors import ConfigError


def destination_error(path: str, place: str) -> ConfigError | None:
    """Why `path` cannot be replaced by a file: it names or is a directory; None when it can."""
    if path.endswith("/") or os.path.basename(path) in (".", ".."):
        return ConfigError(place, f"{path!r} names a directory, not a file")
    if os.path.isdir(path):
        return ConfigError(place, f"{path!r} is a directory")
    return None
