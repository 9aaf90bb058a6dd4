"""The `pilot` command line: run, validate, schema, version, config errors."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from tests.helpers import PYTHON, REPO, scaled


def pilot_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(
        [PYTHON, "-m", "pilot", *args],
        cwd=cwd,
        env=full_env,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=scaled(30),
    )


def own_socket(tmp_path: Path) -> str:
    """The control socket in the test's directory: the default, /var/run/pilot.sock, is shared
    with every other pilot on the machine."""
    return f'control: {{socket: "{tmp_path / "pilot.sock"}"}}'


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
    (tmp_path / "pilot.json5").write_text(
        '{jobs: [{name: "a", exec: ["sh", "-c", "exit 5"]}], ' + own_socket(tmp_path) + "}"
    )
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
    (tmp_path / "pilot.json5").write_text(
        '{jobs: [{name: "a", exec: ["true"]}], ' + own_socket(tmp_path) + "}"
    )
    started = time.monotonic()
    assert pilot_cli("run", "-c", "pilot.json5", cwd=tmp_path).returncode == 0
    assert time.monotonic() - started < scaled(3)


THREE_JOBS = """{
  consul: "127.0.0.1:8500",
  jobs: [
    {name: "setup", exec: "true"},
    {name: "web", exec: "x", port: 8080, health: {http: "http://127.0.0.1:8080/",
     header: {Authorization: "Bearer h3ad3r"}}, env: {API_TOKEN: "3nv-t0k3n", MODE: "blue"},
     when: {source: "setup", once: "exitSuccess"}},
    {name: "hook", exec: "y", when: {source: "web", once: "stopping"}},
  ],
  watches: [{name: "app", service: "app"}],
  templates: [{name: "up", contents: "{{ 1 }}", dest: "up.conf"}],
}"""


def test_validate_says_ok_in_one_line(tmp_path: Path) -> None:
    """validate prints one line saying what the config holds, not the whole config."""
    (tmp_path / "pilot.json5").write_text(THREE_JOBS)
    result = pilot_cli("validate", "-c", "pilot.json5", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "pilot: pilot.json5 is valid: 3 jobs (main: web), 1 watch, 1 template\n"
    )


def test_validate_print_masks_env_and_header_secrets(tmp_path: Path) -> None:
    """--print masks env values named like secrets and every header value."""
    (tmp_path / "pilot.json5").write_text(THREE_JOBS)
    result = pilot_cli("validate", "--print", "-c", "pilot.json5", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    web = json.loads(result.stdout)["jobs"][1]
    assert web["env"] == {"API_TOKEN": "********", "MODE": "blue"}
    assert web["health"]["header"] == {"Authorization": "********"}
    assert "3nv-t0k3n" not in result.stdout and "h3ad3r" not in result.stdout


def test_every_error_is_reported_in_one_run(tmp_path: Path) -> None:
    """Four mistakes in different places: four placed lines, exit 2, nothing started."""
    (tmp_path / "pilot.json5").write_text("""{jobs: [
        {name: "a", exec: ["touch", "ran"], stop: {timeout: NaN}, main: true},
        {name: "b", exec: "y", exce: "z", when: {interval: "1ns"}},
        {name: "c", exec: "z", when: {source: "nope", once: "started"}},
    ], stop_timeout: "9s", stop_timeout: "8s"}""")
    result = pilot_cli("run", "-c", "pilot.json5", cwd=tmp_path)
    assert result.returncode == 2
    assert [line.split(": ")[1] for line in result.stderr.splitlines()] == [
        "jobs[0].stop.timeout",
        "jobs[1].exce",
        "jobs[1].when.interval",
        "stop_timeout",
        "jobs[2].when.source",
    ], result.stderr
    assert not (tmp_path / "ran").exists()


def test_a_huge_config_is_refused_before_it_is_read(tmp_path: Path) -> None:
    """/dev/zero as the config: one placed line about its size, exit 2, no MemoryError."""
    result = pilot_cli("validate", "-c", "/dev/zero", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "pilot: /dev/zero: larger than 1 MiB: is this the config file?"
    ]


def test_config_from_standard_input(tmp_path: Path) -> None:
    """-c - reads the config from standard input, for validate and run."""
    config = '{jobs: [{name: "a", exec: ["sh", "-c", "exit 4"]}], ' + own_socket(tmp_path) + "}"
    result = pilot_cli("validate", "-c", "-", cwd=tmp_path, stdin=config)
    assert result.stdout == "pilot: <stdin> is valid: 1 job (main: a)\n", result.stderr
    assert pilot_cli("run", "-c", "-", cwd=tmp_path, stdin=config).returncode == 4


def test_a_template_that_does_not_compile_is_a_placed_error(tmp_path: Path) -> None:
    """validate compiles every template source (in pilot/render) and places a syntax error."""
    (tmp_path / "pilot.json5").write_text(
        '{consul: "h:1", jobs: [{name: "a", exec: "x"}], templates: [{contents: "ok", dest: "a"},'
        ' {source: "bad.j2", dest: "b"}, {source: "no.j2", dest: "c"}]}'
    )
    (tmp_path / "bad.j2").write_text("{{ 1 }}\n{% if %}")
    result = pilot_cli("validate", "-c", "pilot.json5", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "pilot: templates[1].source: line 2: Expected an expression, got 'end of statement block'",
        f"pilot: templates[2].source: no such file {tmp_path / 'no.j2'}",
    ]
