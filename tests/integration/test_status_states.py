"""What `pilot ctl status` says of a job between the runs of its schedule."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.helpers import Pilot, read_lines, wait_for


def test_a_periodic_job_between_runs_is_waiting(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    """A periodic task that has run and waits for its next tick shows `waiting`, not
    `exited`."""
    runs = tmp_path / "runs"
    p = pilot(
        {
            "jobs": [
                {"name": "app", "main": True, "exec": ["sleep", "300"]},
                {
                    "name": "tick",
                    "exec": ["sh", "-c", f"echo x >> {runs}"],
                    "when": {"interval": "1h"},
                },
            ]
        }
    )
    wait_for(lambda: read_lines(runs) == ["x"], 10, message=p.output)

    def tick_state() -> str:
        jobs = json.loads(p.ctl("status", "--json").stdout)["jobs"]
        return str(next(job["state"] for job in jobs if job["name"] == "tick"))

    wait_for(lambda: tick_state() == "waiting", 10, message=f"waiting\n{p.output}")
