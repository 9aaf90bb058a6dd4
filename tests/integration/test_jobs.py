"""A job's lifecycle: restarts, backoff, process groups, the cost of a crash loop."""

from __future__ import annotations

import itertools
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import Pilot, python_job, read_lines, scaled, wait_for

RECORD_AND_FAIL = python_job("""
    import sys, time
    with open("runs", "a") as f:
        f.write(f"{time.monotonic()}\\n")
    sys.exit(1)
""")


def test_restarts_3_means_4_runs(pilot: Callable[..., Pilot], tmp_path: Path) -> None:
    """restarts: 3 runs a failing job exactly four times, then pilot exits with its code."""
    p = pilot({"jobs": [{"name": "app", "exec": RECORD_AND_FAIL, "restarts": 3}]})
    assert p.wait(20) == 1
    assert len(read_lines(tmp_path / "runs")) == 4


def test_backoff_gaps_grow_and_are_capped(pilot: Callable[..., Pilot], tmp_path: Path) -> None:
    """Gaps between restarts double from backoff.initial and stop growing at backoff.max."""
    config = {
        "jobs": [
            {
                "name": "app",
                "exec": RECORD_AND_FAIL,
                "restarts": 6,
                "backoff": {"initial": "100ms", "max": "400ms"},
            }
        ]
    }
    assert pilot(config).wait(30) == 1
    starts = [float(line) for line in read_lines(tmp_path / "runs")]
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert len(gaps) == 6
    # Expected 0.1, 0.2, 0.4, 0.4, 0.4, 0.4 plus the start-up time of each run.
    assert 0.1 <= gaps[0] < gaps[2], gaps
    assert gaps[1] < gaps[2] + 0.1, gaps
    assert all(0.4 <= gap < 0.4 + scaled(0.8) for gap in gaps[2:]), gaps


def test_no_restart_when_restart_on_failure_and_success(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    """restart_on: failure does not restart a run that succeeded."""
    job = python_job("open('runs', 'a').write('run\\n')")
    p = pilot(
        {"jobs": [{"name": "app", "exec": job, "restarts": "unlimited", "restart_on": "failure"}]}
    )
    assert p.wait() == 0
    assert read_lines(tmp_path / "runs") == ["run"]


def test_success_codes(pilot: Callable[..., Pilot], tmp_path: Path) -> None:
    """An exit code listed in success_codes is an exitSuccess."""
    config = {
        "jobs": [
            {"name": "check", "exec": ["sh", "-c", "exit 4"], "success_codes": [0, 4]},
            {
                "name": "app",
                "main": True,
                "exec": ["touch", "after"],
                "when": {"source": "check", "once": "exitSuccess"},
            },
        ]
    }
    p = pilot(config)
    assert p.wait() == 0
    assert (tmp_path / "after").exists()


def test_killed_main_process_leaves_nothing_of_its_group_before_restart(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    """When a job's process dies, the rest of its group is killed before the next run starts."""
    script = (
        "if [ -f pgid ]; then if kill -0 -- -$(cat pgid) 2>/dev/null; "
        "then echo dirty >> result; else echo clean >> result; fi; fi; "
        "echo $$$$ > pgid; sleep 1000 & sleep 1000 & wait"
    )
    p = pilot(
        {
            "jobs": [
                {
                    "name": "app",
                    "exec": ["sh", "-c", script],
                    "restarts": 1,
                    "backoff": {"initial": "0s"},
                }
            ]
        }
    )
    first = int(
        wait_for(
            lambda: (
                (tmp_path / "pgid").read_text().strip() if (tmp_path / "pgid").exists() else None
            ),
            5,
            message="first run",
        )
    )
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: read_lines(tmp_path / "result"), 5, message="second run")
    assert read_lines(tmp_path / "result") == ["clean"]
    with pytest.raises(ProcessLookupError):
        os.killpg(first, 0)
    p.signal(signal.SIGTERM)
    p.wait()


def test_run_timeout_stops_a_run(pilot: Callable[..., Pilot]) -> None:
    """timeout stops a run that lasts too long; the run counts as failed."""
    config = {"jobs": [{"name": "app", "exec": ["sleep", "30"], "timeout": "300ms"}]}
    p = pilot(config)
    assert p.wait(10) == 143
    assert "timed out" in p.output


@pytest.mark.slow
def test_crash_loop_is_cheap_for_pilot(pilot: Callable[..., Pilot]) -> None:
    """A job crash-looping for 10 s costs pilot itself less than 0.5 s of CPU."""
    p = pilot({"jobs": [{"name": "app", "exec": ["false"], "restarts": "unlimited"}]})
    p.wait_for_output("app exited")
    ticks = os.sysconf("SC_CLK_TCK")

    def cpu_seconds() -> float:
        fields = Path(f"/proc/{p.pilot_pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime, children excluded

    before, started = cpu_seconds(), time.monotonic()
    wait_for(lambda: time.monotonic() - started >= 10, 15, interval=0.5, message="10 s")
    used = cpu_seconds() - before
    assert used < 0.5, f"pilot used {used:.2f}s of CPU"
    assert p.output.count("app started") >= 5
