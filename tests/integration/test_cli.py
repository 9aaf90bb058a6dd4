"""The `pilot` command line: run, validate, schema, version, config errors."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from tests.helpers import PYTHON, REPO


def pilot_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(
        [PYTHON, "-m", "pilot", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_version(tmp_path: Path) -> None:
    """--version prints the version."""
    result = pilot_cli("--version", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.startswith("pilot ")


def test_bad_config_exits_2_with_one_placed_message(tmp_path: Path) -> None:
    """A bad config gives exit 2 and one line naming the place, and starts nothing."""
    (tmp_path / "pilot.json5").write_text(
        '{jobs: [{name: "a", exec: ["touch", "ran"], stop: {timeout: "soon"}}]}'
    )
    result = pilot_cli("run", "-c", "pilot.json5", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "pilot: jobs[0].stop.timeout: must be a duration like \"5s\", not 'soon'"
    ]
    assert not (tmp_path / "ran").exists()


def test_dash_c_implies_run_and_pilot_config_env(tmp_path: Path) -> None:
    """`pilot -c FILE` and PILOT_CONFIG both run the config."""
    (tmp_path / "pilot.json5").write_text('{jobs: [{name: "a", exec: ["sh", "-c", "exit 5"]}]}')
    assert pilot_cli("-c", "pilot.json5", cwd=tmp_path).returncode == 5
    assert pilot_cli("run", cwd=tmp_path, env={"PILOT_CONFIG": "pilot.json5"}).returncode == 5


def test_missing_config_is_an_error(tmp_path: Path) -> None:
    """Without -c or PILOT_CONFIG pilot says how to give one and exits 2."""
    result = pilot_cli("run", cwd=tmp_path, env={"PILOT_CONFIG": ""})
    assert result.returncode == 2 and "PILOT_CONFIG" in result.stderr


def test_validate_prints_normalised_config(tmp_path: Path) -> None:
    """validate --print prints the config with defaults filled in, durations normalised and
    unset optional values left out (no null anywhere)."""
    (tmp_path / "pilot.json5").write_text(
        '{jobs: [{name: "a", exec: "x --y", stop: {timeout: 2.5}}]}'
    )
    result = pilot_cli("validate", "--print", "-c", "pilot.json5", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    job = config["jobs"][0]
    assert job["stop"] == {"signal": "SIGTERM", "timeout": "2.5s"}
    assert "restarts" not in job and config["stop_timeout"] == "9s"
    assert "null" not in result.stdout


def test_schema_describes_every_job_key(tmp_path: Path) -> None:
    """schema prints a JSON Schema whose job properties match what validation accepts."""
    result = pilot_cli("schema", cwd=tmp_path)
    schema = json.loads(result.stdout)
    job = schema["properties"]["jobs"]["items"]
    assert {"name", "exec", "when", "restarts", "stop", "forward"} <= set(job["properties"])
    assert job["required"] == ["name", "exec"] and job["additionalProperties"] is False


def test_job_exiting_at_once_lets_pilot_exit_at_once(tmp_path: Path) -> None:
    """No fixed sleep anywhere: a job that exits at once ends pilot within a generous bound."""
    (tmp_path / "pilot.json5").write_text('{jobs: [{name: "a", exec: ["true"]}]}')
    started = time.monotonic()
    assert pilot_cli("run", "-c", "pilot.json5", cwd=tmp_path).returncode == 0
    assert time.monotonic() - started < 3
