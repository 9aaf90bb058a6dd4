"""`pilot logs`: one job's output alone, from the buffer the running pilot keeps."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.helpers import PYTHON, REPO, Pilot, python_job, scaled, wait_for
from tests.integration.test_up_stack import pids

# Prints "<name> line <i>" for i in 1..3, then one line per SIGUSR1.
TALKER = python_job("""
    import signal, sys, time
    name = sys.argv[1]
    for i in range(1, 4):
        print(name, "line", i, flush=True)
    signal.signal(signal.SIGUSR1, lambda *_: print(name, "poked", flush=True))
    while True:
        time.sleep(60)
""")


def talkers(tmp_path: Path, **extra: object) -> dict[str, object]:
    return {
        "jobs": [
            {"name": "api", "exec": [*TALKER, "api"]},
            {"name": "web", "exec": [*TALKER, "web"], "main": True},
        ],
        **extra,
    }


def logs(p: Pilot, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`pilot logs ARGS` against `p` (through its socket, unless `cwd` is given)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("PILOT_SOCKET", None)
    where = [] if cwd else ["--socket", str(p.socket)]
    return subprocess.run(
        [PYTHON, "-m", "pilot", "logs", *where, *args],
        capture_output=True,
        text=True,
        timeout=scaled(30),
        env=env,
        cwd=cwd,
    )


def texts(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The lines printed, without their time stamps."""
    return [line.split(" ", 1)[1] for line in result.stdout.splitlines()]


def test_logs_of_one_job_alone(pilot: Callable[..., Pilot], tmp_path: Path) -> None:
    """`pilot logs api` prints api's lines and pilot's lines about api, nothing of web; `-n`
    keeps the last lines; `--since` filters by age; an unknown job is an error."""
    p = pilot(talkers(tmp_path))
    p.wait_for_output(r"api\s+\| api line 3")
    p.wait_for_output(r"web\s+\| web line 3")
    result = logs(p, "api")
    assert result.returncode == 0, result.stderr
    lines = texts(result)
    assert lines[0].startswith("pilot | api started pid=")
    assert lines[1:] == ["api   | api line 1", "api   | api line 2", "api   | api line 3"]
    assert texts(logs(p, "api", "-n", "1")) == ["api   | api line 3"]
    assert texts(logs(p, "api", "--since", "1h")) == lines
    both = texts(logs(p, "api", "web"))
    assert {"api   | api line 1", "web   | web line 1"} <= set(both)
    unknown = logs(p, "nope")
    assert unknown.returncode == 1 and "no job named 'nope'" in unknown.stderr


def test_follow_prints_new_lines(pilot: Callable[..., Pilot], tmp_path: Path) -> None:
    """`pilot logs -f api` prints new lines of api as they come, and ends when pilot stops."""
    p = pilot(talkers(tmp_path))
    p.wait_for_output(r"api\s+\| api line 3")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    follower = subprocess.Popen(
        [PYTHON, "-m", "pilot", "logs", "--socket", str(p.socket), "-f", "-n", "1", "api"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert follower.stdout is not None
        assert follower.stdout.readline().rstrip().endswith("api   | api line 3")
        os.kill(pids(p)["api"], signal.SIGUSR1)
        assert follower.stdout.readline().rstrip().endswith("api   | api poked")
        p.signal(signal.SIGTERM)
        assert follower.wait(scaled(15)) == 0
    finally:
        follower.kill()
        follower.wait()


def test_json_lines_carry_the_job_and_logs_dir_keeps_files(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    """In JSON, pilot's lines about a job carry a `job` field; `logs_dir` writes each job's
    output to its own file."""
    config = talkers(tmp_path, logging={"format": "json"}, logs_dir="logs")
    p = pilot(config)
    p.wait_for_output("api line 3")
    started = [
        json.loads(line)
        for line in p.output.splitlines()
        if line.startswith("{") and "api started" in line
    ]
    assert started and started[0]["job"] == "api" and started[0]["source"] == "pilot"
    api_log = tmp_path / "logs" / "api.log"
    wait_for(lambda: api_log.exists() and "api line 3" in api_log.read_text(), 5, message="file")
    text = api_log.read_text()
    assert "pilot: api started pid=" in text and "web line" not in text


def test_logs_finds_the_stack_of_the_current_directory(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    """Run beside a `pilot up` stack's pilot.json5, `pilot logs` needs no socket option."""
    config = talkers(tmp_path)
    p = pilot({**config, "control": {}}, command="up")
    p.wait_for_output(r"api\s+\| api line 3")
    wait_for(lambda: "api line 3" in logs(p, "api", cwd=tmp_path).stdout, 5, message="logs")
    assert (tmp_path / ".pilot" / "pilot.sock").exists()
