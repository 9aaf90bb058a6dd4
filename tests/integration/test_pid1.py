"""pilot as PID 1 of a new PID namespace: reaping, stopping, exit codes."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from tests.helpers import PYTHON, Pilot, scaled, wait_for

COUNT_PROCESSES = """
import os
zombies = sleeps = 0
for entry in os.listdir("/proc"):
    if entry.isdigit():
        try:
            stat = open(f"/proc/{entry}/stat").read()
        except OSError:
            continue
        comm, rest = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:]
        zombies += rest.startswith("Z")
        sleeps += comm == "sleep"
print(zombies, sleeps)
"""


def one_job(exec_: list[str] | str, **extra: object) -> dict[str, object]:
    return {"jobs": [{"name": "app", "exec": exec_, **extra}]}


def test_orphans_are_reaped_while_pilot_runs(pilot: Callable[..., Pilot], tmp_path: Path) -> None:
    """200 orphaned grandchildren leave no zombie in the namespace while pilot is running."""
    script = "for i in $(seq 200); do (sleep 0.3 &); done; touch spawned; exec tail -f /dev/null"
    p = pilot(one_job(["sh", "-c", script]), pid1=True)
    wait_for(lambda: (tmp_path / "spawned").exists(), 10, message="orphans spawned")

    def settled() -> tuple[int, int] | None:
        result = p.in_namespace(PYTHON, "-c", COUNT_PROCESSES)
        zombies, sleeps = map(int, result.stdout.split())
        return (zombies, sleeps) if sleeps == 0 and zombies == 0 else None

    wait_for(settled, 10, message="all orphans exited and reaped")
    assert p.proc.poll() is None, "pilot is still running"
    p.in_namespace("kill", "-TERM", "1")
    assert p.wait() == 143


def test_sigterm_from_inside_stops_the_job_and_exits_with_its_code(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    """`kill -TERM 1` inside the namespace reaches the job; pilot exits with the job's code."""
    script = "trap 'exit 7' TERM; touch ready; while true; do sleep 0.05; done"
    p = pilot(one_job(["sh", "-c", script]), pid1=True)
    wait_for(lambda: (tmp_path / "ready").exists(), 10, message="job ready")
    p.in_namespace("kill", "-TERM", "1")
    assert p.wait() == 7


def test_job_ignoring_sigterm_is_killed_after_its_stop_timeout(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    """A job that ignores SIGTERM is SIGKILLed once its stop.timeout has passed."""
    script = "trap '' TERM; touch ready; while true; do sleep 0.05; done"
    p = pilot(one_job(["sh", "-c", script], stop={"timeout": "700ms"}), pid1=True)
    wait_for(lambda: (tmp_path / "ready").exists(), 10, message="job ready")
    sent = time.monotonic()
    p.signal(15)
    assert p.wait() == 137
    elapsed = time.monotonic() - sent
    assert 0.6 < elapsed < scaled(5), elapsed
    assert "killing it" in p.output


def test_exit_code_is_passed_through(pilot: Callable[..., Pilot]) -> None:
    """A main job exiting 3 makes pilot exit 3."""
    assert pilot(one_job(["sh", "-c", "exit 3"]), pid1=True).wait() == 3


def test_killed_job_gives_128_plus_signal(pilot: Callable[..., Pilot]) -> None:
    """A main job killed by SIGKILL makes pilot exit 137."""
    assert pilot(one_job(["sh", "-c", "kill -KILL $$$$"]), pid1=True).wait() == 137


def test_exit_code_map(pilot: Callable[..., Pilot]) -> None:
    """exit_codes.map remaps the main job's code."""
    config = {**one_job(["sh", "-c", "exit 143"]), "exit_codes": {"map": {"143": 0}}}
    assert pilot(config, pid1=True).wait() == 0


def test_missing_command_exits_127(pilot: Callable[..., Pilot]) -> None:
    """A command that does not exist gives 127, as a shell would."""
    p = pilot(one_job(["/nonexistent/binary"]), pid1=True)
    assert p.wait() == 127
    assert "No such file" in p.output
