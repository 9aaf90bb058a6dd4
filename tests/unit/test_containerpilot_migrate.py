"""pilot convert, pilot import and the containerpilot command line, without running jobs."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pilot.cli.containerpilot import UsageError, config_path, parse_flags
from pilot.config.errors import ConfigError
from pilot.config.load import parse_config
from pilot.migrate.convert import convert
from tests.helpers import require

REPO = Path(__file__).resolve().parents[2]
V3 = """{
  consul: "{{ .CONSUL | default "consul" }}:8500",
  logging: { level: "{{ .LOG_LEVEL | default "INFO" }}" },
  jobs: [
    { name: "app", exec: "/bin/app --name {{ .NAME }} --cost $5", port: 80,
      health: { exec: "check", interval: 3, ttl: 10 } },
    {{ if .EXTRA }}{ name: "extra", exec: "x" },{{ end }}
  ],
}"""


def test_variables_become_substitutions_and_the_rest_is_rendered() -> None:
    """`{{ .VAR | default }}` in a string becomes ${VAR:-default}; an `if` is rendered and
    said so; `$` is escaped; a value pilot must read (a level) is rendered alone."""
    text = convert(V3, {"LOG_LEVEL": "DEBUG"}, "containerpilot.json5")
    assert 'consul: "${CONSUL:-consul}:8500"' in text
    assert '"--name", "${NAME:-}", "--cost", "$$5"' in text
    assert 'level: "debug"' in text and "${LOG_LEVEL:-INFO}: rendered" in text
    assert "containerpilot.json5:7:5: rendered with the current environment" in text
    config = parse_config(text, {"CONSUL": "c1", "NAME": "n"}, "pilot.json5")
    assert config.dialect == "pilot.json5" and config.consul.address == "c1:8500"
    assert config.jobs[0].argv == ("/bin/app", "--name", "n", "--cost", "$5")


def test_v2_becomes_jobs_and_watches() -> None:
    """Hooks, services, backends, tasks and coprocesses of v2 map to v3's jobs and watches."""
    v2 = """{ consul: "consul:8500", preStart: "/bin/pre", preStop: ["/bin/stop"],
      services: [{ name: "web", port: 80, health: "/bin/check", poll: 5, ttl: 20 }],
      backends: [{ name: "db", poll: 7, onChange: "/bin/reload" }],
      tasks: [{ name: "tick", command: "/bin/tick", frequency: "10s" }],
      coprocesses: [{ name: "agent", command: ["/bin/agent"], restarts: "unlimited" }] }"""
    text = convert(v2, {}, "containerpilot.json", app=["nginx", "-g", "daemon off;"])
    config = parse_config(text, {}, "pilot.json5")
    jobs = {job.name: job for job in config.jobs}
    assert jobs["web"].argv == ("nginx", "-g", "daemon off;") and jobs["web"].port == 80
    assert jobs["web"].when.source == "preStart" and config.main_job.name == "web"
    assert jobs["preStop"].when.source == "web" and jobs["preStop"].when.once == ("stopping",)
    assert jobs["onchange-db"].when.source == "watch.db"
    assert jobs["tick"].when.interval == 10 and jobs["agent"].max_restarts > 100
    assert [watch.service for watch in config.watches] == ["db"]


def test_supervisord_programs_become_jobs() -> None:
    """numprocs, command, environment, restarts, stop and priority as start order."""
    require(importlib.util.find_spec("supervisor") is not None, "pip install '.[supervisord]'")
    from pilot.migrate.supervisord import import_supervisord

    conf = """[supervisord]
nodaemon=true
[program:db]
command=redis-server --port 6390
priority=1
stdout_logfile=/dev/stdout
redirect_stderr=true
[program:worker]
command=/bin/sh -c "echo %(process_num)s"
process_name=%(program_name)s-%(process_num)d
numprocs=2
environment=A="1"
autorestart=unexpected
exitcodes=0,3
stopsignal=INT
stopwaitsecs=4
umask=022
"""
    text = import_supervisord(conf, "supervisord.conf")
    assert "[program:worker] umask: not mapped" in text and "[supervisord]" in text
    config = parse_config(text, {}, "pilot.json5")
    db, first, second = config.jobs
    assert db.main and db.logging.raw and db.max_restarts > 100
    assert (first.name, second.name) == ("worker-0", "worker-1")
    assert second.argv == ("/bin/sh", "-c", "echo 1") and dict(second.env) == {"A": "1"}
    assert second.restart_on == "failure" and second.success_codes == (0, 3)
    assert (second.stop.signal, second.stop.timeout) == (2, 4)
    assert second.when.events == (("db", ("started",)),)


def test_supervisord_environment_references_stay_references(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """%(ENV_X)s becomes ${X}, read when pilot starts: the value at import time (a password)
    is not written into pilot.json5; one supervisord reads itself (numprocs) is its value."""
    require(importlib.util.find_spec("supervisor") is not None, "pip install '.[supervisord]'")
    from pilot.migrate.supervisord import import_supervisord

    monkeypatch.setenv("DB_PASS", "hunter2-secret")
    monkeypatch.setenv("WORKERS", "2")
    conf = """[program:app]
command=/bin/app --password %(ENV_DB_PASS)s
environment=PASSWORD="%(ENV_DB_PASS)s"
process_name=app-%(process_num)s
numprocs=%(ENV_WORKERS)s
"""
    text = import_supervisord(conf, "supervisord.conf")
    assert "hunter2" not in text and "${DB_PASS}" in text
    assert "read when pilot starts (values are not copied here): DB_PASS" in text
    assert "%(ENV_WORKERS)s: its current value" in text
    config = parse_config(text, {"DB_PASS": "at-run-time"}, "pilot.json5")
    assert [job.name for job in config.jobs] == ["app-0", "app-1"]
    assert config.jobs[0].argv[-1] == "at-run-time"
    assert dict(config.jobs[0].env) == {"PASSWORD": "at-run-time"}


def test_supervisord_numprocs_is_bounded() -> None:
    """numprocs=1000000 is refused at once, with its place."""
    require(importlib.util.find_spec("supervisor") is not None, "pip install '.[supervisord]'")
    from pilot.migrate.supervisord import import_supervisord

    conf = "[program:app]\ncommand=/bin/app\nprocess_name=a%(process_num)s\nnumprocs=1000000\n"
    with pytest.raises(ConfigError) as caught:
        import_supervisord(conf, "supervisord.conf")
    assert (
        str(caught.value) == "[program:app] numprocs: 1000000 processes: pilot imports at most 1000"
    )


def test_flags_follow_go() -> None:
    """-flag, --flag, -flag=value, repeated pairs; parsing stops at the first argument."""
    flags = parse_flags(["--config=/etc/cp.json5", "-putmetric", "a=1", "-putmetric=b=2", "app"])
    assert flags.strings == {"config": "/etc/cp.json5"}
    assert flags.pairs == {"putmetric": {"a": "1", "b": "2"}}
    for bad in (["-nope"], ["-putenv", "KEY"], ["-config"]):
        with pytest.raises(UsageError):
            parse_flags(bad)


def test_config_path_takes_the_v2_file_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    """$CONTAINERPILOT may hold v2's file:// form."""
    monkeypatch.setenv("CONTAINERPILOT", "file:///etc/containerpilot.json")
    assert config_path(parse_flags([])) == "/etc/containerpilot.json"


def test_template_prints_the_rendered_config(tmp_path: Path) -> None:
    """`containerpilot -template -out FILE` writes the rendered file."""
    source, out = tmp_path / "cp.json5", tmp_path / "out.json5"
    source.write_text('{ consul: "{{ .C }}:8500" }')
    argv = ["-template", "-config", str(source), "-out", str(out)]
    result = subprocess.run(
        [sys.executable, "-m", "pilot.cli.containerpilot", *argv],
        env={"C": "here", "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert out.read_text() == '{ consul: "here:8500" }'


def test_version_and_usage() -> None:
    """-version prints ContainerPilot's two lines; an unknown flag is exit 2 with usage."""
    run = [sys.executable, "-m", "pilot.cli.containerpilot"]
    version = subprocess.run([*run, "-version"], capture_output=True, text=True, check=False)
    assert version.returncode == 0 and version.stdout.startswith("Version: ")
    bad = subprocess.run([*run, "-bogus"], capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and "flag provided but not defined: -bogus" in bad.stderr


KEYS = [
    "consul", "preStart", "stopTimeout", "services", "backends", "tasks", "coprocesses",
    "telemetry", "jobs", "watches", "name", "exec", "port", "health", "poll", "ttl", "interval",
    "command", "frequency", "restarts", "onChange", "sensors", "when", "source", "once",
]  # fmt: skip
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 10**6), st.sampled_from(["", "x", "c:8500", "5s"])
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)
    ),
    max_leaves=10,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=6))
def test_any_file_converts_or_gives_placed_errors(raw: dict[str, object]) -> None:
    """Fuzzed v2/v3-shaped data: pilot convert writes a file or says what is wrong, never a
    traceback (a v2 section that is not a list of objects was one)."""
    try:
        convert(json.dumps(raw), {}, "containerpilot.json5", ["/bin/app"])
    except ConfigError as error:
        assert all(str(one) for one in error.errors)
