"""Go's `time.Duration` as Consul reads and prints it: `ParseDuration` and `String`.

Durations are kept in integer nanoseconds, as Go does, so that what a client sends is
printed back exactly as Consul would print it ("1m30s", "500ms", "0s").
"""

from __future__ import annotations

import re

SECOND = 1_000_000_000
_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 micro sign
    "μs": 1_000,  # U+03BC Greek mu
    "ms": 1_000_000,
    "s": SECOND,
    "m": 60 * SECOND,
    "h": 3600 * SECOND,
}
_PART = re.compile(r"(\d*)(?:\.(\d*))?([^\d.]*)")


def parse_go_duration(text: str) -> int:
    """Nanoseconds of a Go duration string ("10s", "1h2m", "-1.5m", "0").

    Raises:
        ValueError: with Go's own message, e.g. `time: missing unit in duration "10"`.
    """
    quoted = '"' + text + '"'
    rest, sign = text, 1
    if rest[:1] in ("+", "-"):
        sign = -1 if rest[0] == "-" else 1
        rest = rest[1:]
    if rest == "0":
        return 0
    if not rest:
        raise ValueError(f"time: invalid duration {quoted}")
    total = 0
    while rest:
        match = _PART.match(rest)
        assert match is not None  # the pattern matches the empty string
        whole, fraction, unit = match.group(1), match.group(2), match.group(3)
        if not whole and not fraction:
            raise ValueError(f"time: invalid duration {quoted}")
        if not unit:
            raise ValueError(f"time: missing unit in duration {quoted}")
        if unit not in _UNITS:
            raise ValueError(f'time: unknown unit "{unit}" in duration {quoted}')
        scale = _UNITS[unit]
        total += int(whole or "0") * scale
        if fraction:
            total += int(fraction) * scale // 10 ** len(fraction)
        rest = rest[match.end() :]
    if total >= 2**63:
        raise ValueError(f"time: invalid duration {quoted}")
    return sign * total


def format_go_duration(nanoseconds: int) -> str:
    """What Go's `Duration.String()` prints: "0s", "1.5s", "1m0s", "2h0m0s", "250ms"."""
    if nanoseconds == 0:
        return "0s"
    sign, n = ("-", -nanoseconds) if nanoseconds < 0 else ("", nanoseconds)
    if n < SECOND:
        for unit, scale in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if n >= scale:
                return sign + _decimal(n, scale) + unit
    hours, n = divmod(n, 3600 * SECOND)
    minutes, n = divmod(n, 60 * SECOND)
    seconds = _decimal(n, SECOND) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}"
    if minutes:
        return f"{sign}{minutes}m{seconds}"
    return sign + seconds


def _decimal(value: int, scale: int) -> str:
    whole, fraction = divmod(value, scale)
    if not fraction:
        return str(whole)
    digits = str(fraction).rjust(len(str(scale)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}"
