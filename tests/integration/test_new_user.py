"""What a new user hits, tried as one would from the README and docs: each test fails on the
pilot that surprised them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.helpers import REPO, Pilot, python_job, wait_for

PYTHON = sys.executable


def pilot_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("PILOT_SOCKET", None)
    return subprocess.run(
        [PYTHON, "-m", "pilot", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def test_port_in_a_pilot_up_exec_is_explained_with_advice_that_works(tmp_path: Path) -> None:
    config = {"jobs": [{"name": "api", "exec": ["serve", "--port", "${PORT}"], "port": "auto"}]}
    (tmp_path / "pilot.json5").write_text(json.dumps(config))
    result = pilot_cli("validate", "--up", "-c", "pilot.json5", cwd=tmp_path)
    assert result.returncode == 2
    assert "pilot up gives PORT to each job when it starts" in result.stderr
    assert "$$PORT" in result.stderr and "shell: true" in result.stderr
    assert "give a default" not in result.stderr  # ${PORT:-8080} would pin the wrong port


def test_the_advised_shell_form_gets_the_job_its_port(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    job = {"name": "api", "exec": "echo listening on $$PORT; sleep 60", "shell": True}
    p = pilot({"jobs": [{**job, "port": "auto"}]}, command="up")
    kept = tmp_path / ".pilot" / "ports.json"

    def api_port() -> int | None:
        return json.loads(kept.read_text()).get("api") if kept.exists() else None

    p.wait_for_output(rf"listening on {wait_for(api_port, 30, message='api kept port')}\b", 30)


def test_validate_reads_a_pilot_up_file_as_pilot_up_does(tmp_path: Path) -> None:
    config = {
        "monitor": True,
        "jobs": [
            {"name": "api", "exec": ["api"], "port": "auto", "watch": {"paths": ["*.py"]}},
            {"name": "web", "exec": ["web"], "port": "auto"},
        ],
    }
    (tmp_path / "pilot.json5").write_text(json.dumps(config))
    result = pilot_cli("validate", "-c", "pilot.json5", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "valid for pilot up: 2 jobs" in result.stdout
    assert not (tmp_path / ".pilot").exists(), "validate keeps no ports"


def test_validate_still_refuses_what_pilot_run_cannot_do_when_asked_for_run(
    tmp_path: Path,
) -> None:
    config = {"jobs": [{"name": "api", "exec": ["api"], "port": 8080}]}  # no health
    (tmp_path / "pilot.json5").write_text(json.dumps(config))
    result = pilot_cli("validate", "-c", "pilot.json5", cwd=tmp_path)
    assert result.returncode == 2
    assert "jobs[0].health: is required" in result.stderr


def test_a_service_that_never_listens_is_said_once_with_where_pilot_looks(
    pilot: Callable[..., Pilot],
) -> None:
    quiet = {"name": "api", "exec": ["sleep", "60"], "port": "auto"}
    p = pilot({"jobs": [quiet]}, command="up")
    line = p.wait_for_output(r"api has not passed its health check.*", 60).group(0)
    assert "is it listening on 127.0.0.1:" in line
    assert len([x for x in p.output.splitlines() if "has not passed its health" in x]) == 1


HTML = python_job("""
    import http.server, os
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"<html>\\n<head><title>broken</title></head>\\n" + b"<p>x</p>\\n" * 20
            self.send_response(500)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *args):
            pass
    http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
""")


def test_check_output_is_one_line_in_the_log_and_whole_in_ctl_status_job(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    job: dict[str, Any] = {
        "name": "api",
        "exec": HTML,
        "port": "auto",
        "health": {"http": "http://127.0.0.1:${API_PORT}/", "interval": "300ms", "ttl": "5s"},
    }
    port = 18000 + os.getpid() % 1000
    job["port"] = port
    p = pilot({"jobs": [job]}, command="up", env={"API_PORT": str(port), "PORT": str(port)})
    line = p.wait_for_output(r"api has not passed its health check.*", 60).group(0)
    assert "<html>…" in line or "…" in line
    assert "<p>x</p>" not in p.output, "the page is not logged line by line"
    status = p.ctl("status", "api")
    assert status.returncode == 0, status.stderr
    assert status.stdout.count("<p>x</p>") == 20, "the whole output, in ctl status JOB"


def test_a_stop_pilot_was_asked_for_is_no_health_transition(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    job = {
        "name": "api",
        "exec": ["sleep", "600"],
        "health": {"exec": ["true"], "interval": "200ms"},
    }
    main = {"name": "main", "exec": ["sleep", "600"], "main": True}
    p = pilot({"logging": {"level": "debug"}, "jobs": [main, job]})
    p.wait_for_output(r"api is healthy", 30)
    assert p.ctl("stop", "api").returncode == 0
    assert p.ctl("restart", "api").returncode == 0
    wait_for(lambda: p.output.count("api is healthy") >= 2, 30, message="healthy again")
    assert "api is unhealthy" not in p.output
    assert "not running (exit" not in p.output


def test_ctl_logs_and_traffic_with_nothing_running_say_so(tmp_path: Path) -> None:
    (tmp_path / "pilot.json5").write_text('{jobs: [{name: "a", exec: ["a"], port: "auto"}]}')
    for program in (["ctl", "status"], ["logs"], ["traffic"]):
        result = pilot_cli(*program, cwd=tmp_path)
        assert result.returncode == 2, result
        assert "no pilot is running for ./pilot.json5" in result.stderr, result.stderr
        assert "Errno" not in result.stderr
