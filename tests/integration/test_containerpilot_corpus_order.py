"""The order in which pilot starts and stops the jobs of each corpus file ContainerPilot 3.8.0
loads, compared with the order ContainerPilot itself kept
(tests/data/containerpilot_parity/corpus_order.json, recorded by tests/cpparity/record.py):
each file runs in the sandbox of the registration parity test, whose stubs log when each job
starts, exits, or gets SIGTERM (tests/cpparity/order.py). Before SIGTERM and after it, pilot
runs the same jobs as ContainerPilot did and keeps every order ContainerPilot keeps (`when`
chains, pre-stop hooks before the job they hold); jobs ContainerPilot starts or stops together
may come in any order. The corpus is not in this repository: PILOT_CP_CORPUS points to it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.cpparity import order, sandbox
from tests.cpparity.runs import handles, pilot_argv, registry_argv, running
from tests.helpers import REPO, require, wait_for

DATA = json.loads((REPO / "tests/data/containerpilot_parity/corpus_order.json").read_text())
CORPUS = Path(os.environ.get("PILOT_CP_CORPUS", "/work/shared/corpus/containerpilot"))
FILES = DATA["files"]
# Events pilot may run that ContainerPilot did not, by file, and why (docs/migrating.md).
PILOT_MAY_ADD = {
    # minemeld's first health check runs at once under pilot, after its 20 s interval under
    # ContainerPilot, by when the stub had exited; when pilot's check passes before the exit,
    # `web` (once minemeld is healthy) runs too.
    "mterron__minemeld__containerpilot.json5": {"web start", "web exit"},
}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (CORPUS / "v3").is_dir(), reason=f"no corpus at {CORPUS}"),
]


def read(log: Path) -> str:
    return log.read_text() if log.exists() else ""


def so_far(box: sandbox.Sandbox, raw: dict[str, Any]) -> set[str]:
    """The events the stubs logged so far (no SIGTERM yet)."""
    return set(order.phases(read(box.order_log), raw)[0])


@pytest.mark.parametrize("entry", FILES, ids=[entry["file"] for entry in FILES])
def test_pilot_starts_and_stops_jobs_in_containerpilots_order(
    entry: dict[str, Any], tmp_path: Path
) -> None:
    """The same jobs start before SIGTERM and start or stop after it, in an order that keeps
    every pair ContainerPilot orders."""
    from pilot.config.containerpilot.detect import parse_rendered

    reason = sandbox.available()
    require(reason is None, str(reason))
    config = tmp_path / "containerpilot.json5"
    shutil.copy(CORPUS / "v3" / entry["file"], config)
    raw = parse_rendered(config.read_text(), sandbox.ENVIRON, config.name)
    # Jobs a watch on a service pilot leaves out starts ran with ContainerPilot only.
    only_cp = order.waiting_on(raw, order.left_out(raw, entry["stubs"]["missing"]))
    before = order.without(entry["before_sigterm"], only_cp)
    after = order.without(entry["after_sigterm"], only_cp)
    repo = {"PYTHONPATH": str(REPO)}
    silent = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    with (
        sandbox.Sandbox(tmp_path, entry["stubs"]) as box,
        running(registry_argv(box), env={**os.environ, **repo}, **silent),
    ):
        wait_for(lambda: box.get("/v1/status/leader"), 30, message="the registry")
        log = tmp_path / "pilot.log"
        with open(log, "wb") as out, running(pilot_argv(box, config), cwd=tmp_path,
                                             env=box.environ(repo), stdout=out,
                                             stderr=out) as pilot:  # fmt: skip
            try:
                want = set(before["events"])
                wait_for(lambda: want <= so_far(box, raw), 60, message=f"{sorted(want)}")
            except AssertionError as timeout:
                raise AssertionError(f"{timeout}\n{read(box.order_log)}\n{read(log)}") from None
            if entry["ended_by_itself"]:
                assert pilot.wait(30) == 0, log.read_text()
            else:
                wait_for(lambda: handles(pilot.pid, signal.SIGTERM), 30, message="pilot started")
                with open(box.order_log, "a") as stubs:
                    stubs.write(f"{time.time():.9f} {order.SIGTERM} -\n")
                pilot.send_signal(signal.SIGTERM)
                assert pilot.wait(30) == 0, log.read_text()
    got_before, got_after = order.phases(read(box.order_log), raw)
    shown = f"pilot ran:\n{read(box.order_log)}"
    added = PILOT_MAY_ADD.get(entry["file"], set())
    assert sorted(e for e in got_before if e not in added) == sorted(before["events"]), shown
    assert order.broken(before["order"], got_before) == [], shown
    assert sorted(got_after) == sorted(after["events"]), shown
    assert order.broken(after["order"], got_after) == [], shown
