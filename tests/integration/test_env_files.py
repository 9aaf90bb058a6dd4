"""Files decoded from base64 environment variables, and the environment jobs get."""

from __future__ import annotations

import base64
import json
import os
import signal
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.helpers import PYTHON, REPO, Pilot, read_lines, scaled, wait_for

PAYLOAD = b"-----BEGIN CERT-----\n\xfb\xff binary too\n"


# Writes its environment to env.out in one go (a rename), then stays up: pilot keeps running.
ENV_THEN_WAIT = "env > env.tmp && mv env.tmp env.out && exec sleep 300"


def job_environment(tmp_path: Path) -> dict[str, str]:
    """The environment ENV_THEN_WAIT wrote, once it is there."""
    wait_for(lambda: (tmp_path / "env.out").exists(), 10, message="the job's environment")
    return dict(line.split("=", 1) for line in read_lines(tmp_path / "env.out") if "=" in line)


def state_of(p: Pilot, job: str) -> str | None:
    """The job's state, None while the control socket does not answer yet."""
    try:
        return str({j["name"]: j for j in p.status()["jobs"]}[job]["state"])
    except OSError:
        return None


def status_jobs(p: Pilot) -> dict[str, dict[str, Any]]:
    """The jobs of `pilot ctl status --json`, by name."""
    result = p.ctl("status", "--json")
    assert result.returncode == 0, result.stderr
    return {job["name"]: job for job in json.loads(result.stdout)["jobs"]}


def run_once(tmp_path: Path, config: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    (tmp_path / "pilot.json5").write_text(config)
    full = {**os.environ, "PYTHONPATH": str(REPO), **env}
    return subprocess.run(
        [PYTHON, "-m", "pilot", "run", "-c", "pilot.json5"],
        cwd=tmp_path,
        env=full,
        capture_output=True,
        text=True,
        timeout=scaled(30),
    )


def files_config(tmp_path: Path, *entries: str) -> str:
    job = '{name: "app", exec: ["sh", "-c", "env > env.out"]}'
    socket = tmp_path / "pilot.sock"
    return f'{{files: [{", ".join(entries)}], control: {{socket: "{socket}"}}, jobs: [{job}]}}'


def test_standard_urlsafe_and_whitespace(tmp_path: Path) -> None:
    """Standard and URL-safe base64, with line breaks inside, decode to the same bytes."""
    data = bytes(range(256))
    standard = base64.b64encode(data).decode()
    urlsafe = base64.urlsafe_b64encode(data).decode().rstrip("=")
    wrapped = "\n".join(standard[i : i + 60] for i in range(0, len(standard), 60)) + "\n"
    config = files_config(
        tmp_path,
        '{env: "A", path: "out/a"}',
        '{env: "B", path: "out/b"}',
        '{env: "C", path: "out/c"}',
    )
    result = run_once(tmp_path, config, {"A": standard, "B": urlsafe, "C": wrapped})
    assert result.returncode == 0, result.stderr
    for name in "abc":
        assert (tmp_path / "out" / name).read_bytes() == data


def test_mode_default_and_explicit_and_parents(tmp_path: Path) -> None:
    """Files are 0600 unless told otherwise; parent directories are created."""
    config = files_config(
        tmp_path, '{env: "A", path: "deep/er/a"}', '{env: "B", path: "b", mode: "0644"}'
    )
    encoded = base64.b64encode(PAYLOAD).decode()
    assert run_once(tmp_path, config, {"A": encoded, "B": encoded}).returncode == 0
    assert stat.S_IMODE((tmp_path / "deep/er/a").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "b").stat().st_mode) == 0o644
    assert (tmp_path / "deep/er/a").read_bytes() == PAYLOAD


def test_missing_variable_is_a_config_error_and_nothing_is_written(tmp_path: Path) -> None:
    """A missing required variable exits 2 naming it; the valid entry before it is not written."""
    config = files_config(tmp_path, '{env: "GOOD", path: "good"}', '{env: "ABSENT", path: "x"}')
    result = run_once(tmp_path, config, {"GOOD": base64.b64encode(b"ok").decode()})
    assert result.returncode == 2
    assert "ABSENT" in result.stderr and "files[1]" in result.stderr
    assert not (tmp_path / "good").exists() and not (tmp_path / "env.out").exists()


def test_invalid_base64_is_a_config_error_and_nothing_is_written(tmp_path: Path) -> None:
    """Invalid base64 exits 2 naming the variable; no file at all is written."""
    config = files_config(tmp_path, '{env: "GOOD", path: "good"}', '{env: "BAD", path: "bad"}')
    result = run_once(tmp_path, config, {"GOOD": "b2s=", "BAD": "not*base64!"})
    assert result.returncode == 2
    assert "BAD" in result.stderr and "not valid base64" in result.stderr
    assert not (tmp_path / "good").exists() and not (tmp_path / "bad").exists()


def test_optional_missing_is_skipped(tmp_path: Path) -> None:
    """An optional entry whose variable is unset is skipped and pilot runs."""
    config = files_config(tmp_path, '{env: "NOPE", path: "nope", optional: true}')
    result = run_once(tmp_path, config, {})
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "nope").exists() and (tmp_path / "env.out").exists()


def test_export_and_pilot_variables(pilot: Callable[..., Pilot], tmp_path: Path) -> None:
    """export puts the path into jobs' environment, with PILOT_PID, PILOT_<JOB>_PID (the pid
    that `pilot ctl status` shows for that job) and env."""
    config = {
        "files": [{"env": "CERT", "path": "tls/cert.pem", "export": "TLS_CERT"}],
        "jobs": [
            {"name": "my-db", "exec": ["sleep", "300"]},
            {
                "name": "app",
                "main": True,
                "env": {"MODE": "blue", "N": 3},
                "exec": ["sh", "-c", ENV_THEN_WAIT],
                "when": {"source": "my-db", "once": "started"},
            },
        ],
    }
    p = pilot(config, env={"CERT": base64.b64encode(PAYLOAD).decode()})
    env = job_environment(tmp_path)
    jobs = status_jobs(p)
    assert jobs["my-db"]["state"] == "running"
    assert env["PILOT_MY_DB_PID"] == str(jobs["my-db"]["pid"])
    assert env["TLS_CERT"] == str(tmp_path / "tls" / "cert.pem")
    assert (tmp_path / "tls" / "cert.pem").read_bytes() == PAYLOAD
    assert env["PILOT_PID"] == str(p.pilot_pid)
    assert env["MODE"] == "blue" and env["N"] == "3"


def test_a_job_in_backoff_has_no_pid_variable(pilot: Callable[..., Pilot], tmp_path: Path) -> None:
    """A crashed job waiting to be restarted has no process: no PILOT_<JOB>_PID for it."""
    config = {
        "jobs": [
            {"name": "db", "exec": ["sleep", "300"]},
            {
                "name": "crashy",
                "exec": ["sh", "-c", "exit 1"],
                "restarts": "unlimited",
                "backoff": {"initial": "60s", "max": "60s"},
            },
            {
                "name": "app",
                "main": True,
                "exec": ["sh", "-c", ENV_THEN_WAIT],
                "when": {"source": "SIGUSR1", "once": "SIGUSR1"},
            },
        ],
    }
    p = pilot(config)
    wait_for(lambda: state_of(p, "crashy") == "backoff", 10, message="crashy in backoff")
    p.signal(signal.SIGUSR1)
    env = job_environment(tmp_path)
    jobs = status_jobs(p)
    assert jobs["crashy"]["state"] == "backoff", "crashy restarted: the test proves nothing"
    pilot_variables = sorted(name for name in env if name.startswith("PILOT_"))
    assert "PILOT_CRASHY_PID" not in pilot_variables, pilot_variables
    assert env["PILOT_DB_PID"] == str(jobs["db"]["pid"])


def test_a_directory_destination_changes_nothing(tmp_path: Path) -> None:
    """A destination that is a directory is a placed error at load (exit 2, no traceback): the
    file before it keeps its old bytes and no temp file holding the secret is left anywhere."""
    (tmp_path / "first").write_bytes(b"old")
    (tmp_path / "adir").mkdir()
    config = files_config(tmp_path, '{env: "A", path: "first"}', '{env: "B", path: "adir"}')
    secret = base64.b64encode(b"the secret").decode()
    result = run_once(tmp_path, config, {"A": secret, "B": secret})
    assert result.returncode == 2, result.stderr
    assert "pilot: files[1].path: 'adir' is a directory" in result.stderr.splitlines()
    assert "Traceback" not in result.stderr
    assert (tmp_path / "first").read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir", "first", "pilot.json5"]
    assert list((tmp_path / "adir").iterdir()) == []


def test_destinations_that_cannot_be_files_are_placed_errors(tmp_path: Path) -> None:
    """A path ending in '/' or holding a NUL byte, and a path listed twice, are refused at load
    with their places; nothing is written."""
    config = files_config(
        tmp_path,
        '{env: "A", path: "out/"}',
        '{env: "A", path: "out/a\\u0000b"}',
        '{env: "A", path: "twice"}',
        '{env: "A", path: "./twice"}',
    )
    result = run_once(tmp_path, config, {"A": base64.b64encode(b"x").decode()})
    assert result.returncode == 2, result.stderr
    places = [line.split(": ")[1] for line in result.stderr.splitlines()]
    assert places == ["files[1].path", "files[0].path", "files[3].path"], result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pilot.json5"]
