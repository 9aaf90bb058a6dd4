"""Durations written as strings with units ("250ms", "5s", "1m30s"); a bare number is seconds."""

from __future__ import annotations

import math
import re

SHORTEST_INTERVAL = 0.1  # of health checks and periodic jobs: a shorter one is a busy loop
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d+)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_NUMBER = re.compile(r"\d+(?:\.\d+)?|\.\d+")


def parse_duration(value: object) -> float:
    """Return `value` in seconds.

    Raises:
        ValueError: the value is not a finite, non-negative duration (NaN and Infinity are not).
    """
    seconds = _seconds(value)
    if not math.isfinite(seconds):
        raise ValueError("not a finite duration")
    return seconds


def _seconds(value: object) -> float:
    if isinstance(value, bool):
        raise ValueError("not a duration")
    if isinstance(value, int | float):
        if not value >= 0:  # NaN too
            raise ValueError("negative duration")
        return float(value)
    if not isinstance(value, str):
        raise ValueError("not a duration")
    text = value.strip()
    if _NUMBER.fullmatch(text):
        return float(text)
    total, pos = 0.0, 0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError("not a duration")
    return total


def format_duration(seconds: float) -> str:
    """Write seconds back in the shortest unit that keeps them exact enough to read."""
    if seconds == 0:
        return "0s"
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    return f"{seconds:g}s"
