"""Go's duration syntax, as Consul parses and prints durations."""

from __future__ import annotations

import pytest

from pilot.devconsul.go.durations import format_go_duration, parse_go_duration

S = 1_000_000_000


@pytest.mark.parametrize(
    ("text", "nanoseconds"),
    [
        ("10s", 10 * S),
        ("1m30s", 90 * S),
        ("1.5h", 5400 * S),
        ("250ms", 250_000_000),
        ("1us", 1_000),
        ("1µs", 1_000),
        ("-2m", -120 * S),
        ("0", 0),
        ("+5s", 5 * S),
    ],
)
def test_parse(text: str, nanoseconds: int) -> None:
    """Durations parse as Go's time.ParseDuration parses them."""
    assert parse_go_duration(text) == nanoseconds


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("10", 'time: missing unit in duration "10"'),
        ("10x", 'time: unknown unit "x" in duration "10x"'),
        ("", 'time: invalid duration ""'),
        ("s", 'time: invalid duration "s"'),
    ],
)
def test_parse_errors(text: str, error: str) -> None:
    """Bad durations fail with Go's messages (which Consul passes on)."""
    with pytest.raises(ValueError, match=error):
        parse_go_duration(text)


@pytest.mark.parametrize(
    ("nanoseconds", "text"),
    [
        (0, "0s"),
        (10 * S, "10s"),
        (60 * S, "1m0s"),
        (3600 * S, "1h0m0s"),
        (90 * S + S // 2, "1m30.5s"),
        (1_500_000, "1.5ms"),
        (15 * S, "15s"),
    ],
)
def test_format(nanoseconds: int, text: str) -> None:
    """Durations print as Go's Duration.String() prints them."""
    assert format_go_duration(nanoseconds) == text
