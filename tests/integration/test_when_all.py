"""`when: {all: [...]}`: a job that waits for several events starts once every one happened."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.helpers import Pilot, read_lines, wait_for


def test_a_job_waiting_for_all_of_two_events_starts_once_both_happened(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    """The job starts after the second of its two events, whichever order they come in, and
    only once."""
    gate = tmp_path / "gate"
    log = tmp_path / "log"
    config = {
        "jobs": [
            {"name": "app", "main": True, "exec": ["sleep", "60"]},
            {"name": "first", "exec": ["sh", "-c", f"echo first >> {log}"]},
            {
                "name": "second",
                "exec": [
                    "sh",
                    "-c",
                    f"while [ ! -e {gate} ]; do sleep 0.05; done; echo second >> {log}",
                ],
            },
            {
                "name": "both",
                "exec": ["sh", "-c", f"echo both >> {log}"],
                "when": {
                    "all": [
                        {"source": "second", "once": "exitSuccess"},
                        {"source": "first", "once": "exitSuccess"},
                    ]
                },
            },
        ]
    }
    p = pilot(config)
    wait_for(lambda: read_lines(log) == ["first"], 10, message=f"first ran\n{p.output}")
    assert "both started" not in p.output
    gate.touch()
    wait_for(
        lambda: read_lines(log) == ["first", "second", "both"],
        10,
        message=f"both started after the second event\n{p.output}",
    )
    p.wait_for_output(r"both exited", 5)
    assert p.output.count("both started") == 1
