"""pilot's log lines: colour only on a terminal, decided for each stream."""

from __future__ import annotations

import io
import os

import pytest

from pilot.log import Log


def test_colour_only_on_the_stream_that_is_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """stdout redirected to a file stays plain while stderr, a terminal, is coloured."""
    monkeypatch.delenv("NO_COLOR", raising=False)
    controller, terminal_fd = os.openpty()
    with os.fdopen(terminal_fd, "w") as terminal:
        plain = io.StringIO()
        log = Log(stdout=plain, stderr=terminal, names=("app",))
        log.job_line("app", "stdout", "to the file")
        log.job_line("app", "stderr", "to the terminal")
        seen = os.read(controller, 4096)
    os.close(controller)
    assert "\x1b[" not in plain.getvalue() and "to the file" in plain.getvalue()
    assert b"\x1b[" in seen and b"to the terminal" in seen


def test_no_color_turns_colour_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """NO_COLOR set: no escape codes even on a terminal."""
    monkeypatch.setenv("NO_COLOR", "1")
    controller, terminal_fd = os.openpty()
    with os.fdopen(terminal_fd, "w") as terminal:
        Log(stderr=terminal).info("hello")
        seen = os.read(controller, 4096)
    os.close(controller)
    assert b"hello" in seen and b"\x1b[" not in seen


def test_every_line_of_a_multi_line_value_has_the_prefix() -> None:
    """A check's multi-line output logged as a field keeps `time pilot |` on every line."""
    err = io.StringIO()
    log = Log(stdout=io.StringIO(), stderr=err, names=("app",))
    log.warn("app is unhealthy", output="first line\nsecond line\n")
    lines = err.getvalue().splitlines()
    assert len(lines) == 2
    assert all(" pilot |" in line for line in lines)
    assert lines[1].endswith("| second line")
