"""When a ContainerPilot file ends, compared with what ContainerPilot 3.8.0 did with the same
files (tests/data/containerpilot_parity/ending.json, recorded from the real binary by
tests/cpparity/record.py): it has no main job and runs until every job is over, a job waiting
for an event that can no longer come is not over, nor is a job without exec or its telemetry;
it exits 0 however it ends."""

from __future__ import annotations

import collections
import json
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import REPO, Pilot, free_port, wait_for

DATA = json.loads((REPO / "tests/data/containerpilot_parity/ending.json").read_text())
SCENARIOS = DATA["scenarios"]
ACTIVE = ("starting", "running", "backoff", "stopping")


def runs(log: Path) -> dict[str, int]:
    return dict(collections.Counter(log.read_text().split() if log.exists() else []))


def settled(p: Pilot, names: list[str]) -> bool:
    states = {job["name"]: job for job in p.status()["jobs"]}
    return all(states[n]["runs"] and states[n]["state"] not in ACTIVE for n in names)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s["name"] for s in SCENARIOS])
def test_it_ends_when_containerpilot_does(
    scenario: dict[str, Any], pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    """The same end (by itself, or only when signalled), the same exit code, the same runs."""
    recorded = scenario["containerpilot"]
    text = scenario["config"].replace("{dir}", str(tmp_path)).replace("{port}", str(free_port()))
    text = text.replace(f"{tmp_path}/cp.sock", f"{tmp_path}/pilot.sock")  # Pilot's ctl socket
    log = tmp_path / "log"
    p = pilot(text)
    if recorded["ended"]:
        assert p.wait(30) == recorded["exit"], p.output
        assert runs(log) == recorded["runs"]
        return
    names = scenario["settled"] or ["app"]
    wait_for(lambda: set(names) <= set(runs(log)), 15, message=f"{names} ran")
    wait_for(lambda: settled(p, scenario["settled"]), 15, message=f"{names} over")
    p.status()  # answered after the check that follows a job's end
    assert p.proc.poll() is None and "every job is over" not in p.output, p.output
    p.signal(signal.SIGTERM)
    assert p.wait(15) == recorded["exit_after_sigterm"], p.output
    assert runs(log) == recorded["runs"]
