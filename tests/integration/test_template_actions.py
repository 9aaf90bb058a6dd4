"""What follows a render (on_change restart, exec, a signal to a job not running), a check that
hangs, and the shipped nginx templates accepted by `nginx -t`: real pilot, a real registry."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    REPO,
    Pilot,
    Registry,
    holds,
    python_job,
    read_lines,
    require,
    scaled,
    wait_for,
)

RUN = python_job("""
    import os, sys, time
    open(sys.argv[1], "a").write(f"{os.getpid()}\\n")
    while True:
        time.sleep(60)
""")

CONTENTS = "v={{ key_or_default('cfg/v', '0') }}\n"


def setup(
    registry: Registry, tmp_path: Path, jobs: list[dict[str, Any]], **template: Any
) -> tuple[dict[str, Any], Path]:
    """A config with one template `t` of CONTENTS (unless given) and the path it writes."""
    dest = tmp_path / "t.conf"
    config = {
        "consul": registry.address,
        "logging": {"level": "debug"},
        "jobs": jobs,
        "templates": [{"name": "t", "contents": CONTENTS, "dest": str(dest), **template}],
    }
    return config, dest


def job_status(p: Pilot, name: str) -> dict[str, Any]:
    return next(j for j in p.status()["jobs"] if j["name"] == name)


def template_status(p: Pilot) -> dict[str, Any]:
    return dict(p.status()["templates"][0])


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][0] != "Z"


def rendered_events(p: Pilot) -> int:
    """`rendered` is emitted after the on_change actions have run."""
    return p.output.count("event template.t.rendered")


def test_restart_action_restarts_the_job(
    pilot: Callable[..., Pilot], registry: Registry, tmp_path: Path
) -> None:
    """on_change {restart: job}: a changed file gives the job a new process; the old one ends."""
    runs = tmp_path / "app.runs"
    config, dest = setup(
        registry,
        tmp_path,
        [{"name": "app", "main": True, "exec": [*RUN, str(runs)]}],
        on_change=[{"restart": "app"}],
    )
    p = pilot(config)
    wait_for(lambda: rendered_events(p) == 1, 10, message=f"first render\n{p.output}")
    wait_for(lambda: job_status(p, "app")["state"] == "running", 5, message="app running")
    before = job_status(p, "app")
    wait_for(lambda: read_lines(runs)[-1:] == [str(before["pid"])], 5, message="app's pid written")
    registry.put("/v1/kv/cfg/v", "1")
    wait_for(lambda: rendered_events(p) == 2, 5, message=f"second render\n{p.output}")
    wait_for(
        lambda: (
            job_status(p, "app")["state"] == "running"
            and job_status(p, "app")["pid"] != before["pid"]
        ),
        5,
        message="app running with a new pid",
    )
    after = job_status(p, "app")
    assert dest.read_text() == "v=1\n"
    wait_for(lambda: read_lines(runs)[-1:] == [str(after["pid"])], 5, message="new pid written")
    assert after["runs"] == before["runs"] + 1
    wait_for(lambda: not alive(before["pid"]), 5, message="the old process gone")


def test_exec_action_runs_once_per_changed_file(
    pilot: Callable[..., Pilot], registry: Registry, tmp_path: Path
) -> None:
    """on_change {exec: [...]}: runs after the new bytes are in place, once per change; a new
    answer that renders the same bytes runs nothing."""
    log = tmp_path / "exec.log"
    dest = tmp_path / "t.conf"
    config, _ = setup(
        registry,
        tmp_path,
        [{"name": "app", "main": True, "exec": ["sleep", "300"]}],
        on_change=[{"exec": ["sh", "-c", f"cat {dest} >> {log}"]}],
    )
    # A watch on the same key shares the template's long poll: its update count says when
    # pilot has had an answer.
    config["watches"] = [{"name": "v", "key": "cfg/v"}]
    p = pilot(config)

    def updates() -> int:
        return int(p.status()["watches"][0]["updates"])

    wait_for(lambda: read_lines(log) == ["v=0"], 10, message=f"first exec\n{p.output}")
    registry.put("/v1/kv/cfg/v", "1")
    wait_for(lambda: read_lines(log) == ["v=0", "v=1"], 5, message="exec after the change")
    wait_for(lambda: updates() == 2, 5, message="the watch's second answer")
    # A count reached is not a count that stays: a watch re-delivering its answer would climb.
    holds(lambda: updates() == 2, 1.0, message="the watch at 2 answers")
    registry.put("/v1/kv/cfg/v?flags=7", "1")  # a new answer (flags), the same bytes
    wait_for(lambda: updates() == 3, 5, message="pilot has the same-value answer")
    holds(lambda: updates() == 3, 1.0, message="the watch at 3 answers")
    assert read_lines(log) == ["v=0", "v=1"], "exec ran for bytes that did not change"
    registry.put("/v1/kv/cfg/v", "2")
    wait_for(lambda: read_lines(log)[-1:] == ["v=2"], 5, message="exec after the next change")
    assert read_lines(log) == ["v=0", "v=1", "v=2"]


def test_signal_to_a_job_not_running_is_skipped(
    pilot: Callable[..., Pilot], registry: Registry, tmp_path: Path
) -> None:
    """on_change {signal, job} with the job not running: logged as skipped, no error, and the
    actions after it still run."""
    log = tmp_path / "exec.log"
    dest = tmp_path / "t.conf"
    config, _ = setup(
        registry,
        tmp_path,
        [
            {"name": "app", "main": True, "exec": ["sleep", "300"]},
            {"name": "idle", "exec": ["true"]},
        ],
        on_change=[
            {"signal": "SIGHUP", "job": "idle"},
            {"exec": ["sh", "-c", f"cat {dest} >> {log}"]},
        ],
    )
    p = pilot(config)
    wait_for(lambda: read_lines(log) == ["v=0"], 10, message=f"first render\n{p.output}")
    wait_for(lambda: job_status(p, "idle")["state"] == "exited", 5, message="idle exited")
    skipped = "template.t: idle is not running, SIGHUP skipped"
    before = p.output.count(skipped)
    registry.put("/v1/kv/cfg/v", "1")
    wait_for(lambda: read_lines(log) == ["v=0", "v=1"], 5, message=f"exec ran\n{p.output}")
    assert p.output.count(skipped) == before + 1, p.output
    status = template_status(p)
    assert status["failures"] == 0 and status["last_error"] is None
    assert "renderFailed" not in p.output and "error:" not in p.output
    assert p.proc.poll() is None


def test_check_timeout_kills_a_hanging_check(
    pilot: Callable[..., Pilot], registry: Registry, tmp_path: Path
) -> None:
    """A check that outlives check_timeout is killed (its whole group) and counts as failed:
    the previous bytes are back and renderFailed is emitted; the next change retries."""
    pid_file, seen = tmp_path / "check.pid", tmp_path / "seen"
    dest = tmp_path / "t.conf"
    dest.write_text("old\n")
    hang = f"cp {{dest}} {seen}; echo $$$$ > {pid_file}; [ -e {tmp_path}/ok ] || exec sleep 300"
    config, _ = setup(
        registry,
        tmp_path,
        [{"name": "app", "main": True, "exec": ["sleep", "300"]}],
        check=["sh", "-c", hang],
        check_timeout="1s",
    )
    p = pilot(config)
    wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(), 10, message="check ran")
    check_pid = int(pid_file.read_text())
    assert seen.read_text() == "v=0\n", "the check sees the new bytes in place"
    p.wait_for_output(r"template\.t: check .* failed, previous file restored", 5)
    p.wait_for_output(r"event template\.t\.renderFailed", 1)
    assert dest.read_text() == "old\n"
    wait_for(lambda: not alive(check_pid), 3, message="the hanging check killed")
    status = template_status(p)
    assert status["failures"] == 1 and "timed out after 1s" in status["last_error"]
    assert status["renders"] == 0
    (tmp_path / "ok").touch()
    registry.put("/v1/kv/cfg/v", "1")
    wait_for(lambda: dest.read_text() == "v=1\n", 5, message="the next change applied")
    # The file is in place before its check has passed; the render counts once it has.
    wait_for(lambda: template_status(p)["renders"] == 1, 5, message="counted as a render")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("passing", [0, 1], ids=["zero-instances", "one-instance"])
def test_shipped_nginx_templates_pass_nginx_t(
    registry: Registry, tmp_path: Path, passing: int
) -> None:
    """pilot:nginx/upstreams.conf.j2 (http context) and pilot:nginx/locations.conf.j2 (server
    context), rendered by `pilot render` with a service that has zero or one passing instance,
    make a config `nginx -t` accepts."""
    require(
        shutil.which("nginx") is not None, "nginx is not installed (apt-get install nginx-light)"
    )
    prefix = tmp_path / "nginx"
    (prefix / "tmp").mkdir(parents=True)
    conf = prefix / "nginx.conf"
    temp = "\n".join(
        f"    {kind}_temp_path {prefix}/tmp/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf.write_text(f"""
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
events {{ worker_connections 16; }}
http {{
    access_log off;
{temp}
    include {prefix}/upstreams.conf;
    server {{
        listen 127.0.0.1:{_free_port()};
        include {prefix}/locations.conf;
    }}
}}
""")
    registry.put(
        "/v1/agent/service/register",
        {
            "Name": "web",
            "ID": "web-1",
            "Address": "127.0.0.1",
            "Port": 8080,
            "Check": {"TTL": "60s", "Status": "passing" if passing else "critical"},
        },
    )
    config = tmp_path / "pilot.json5"
    config.write_text(f"""{{
        consul: "{registry.address}",
        jobs: [{{name: "app", exec: ["true"]}}],
        templates: [
            {{source: "pilot:nginx/upstreams.conf.j2", dest: "{prefix}/upstreams.conf"}},
            {{source: "pilot:nginx/locations.conf.j2", dest: "{prefix}/locations.conf"}},
        ],
    }}""")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("PILOT_UPSTREAMS", None)
    render = subprocess.run(
        [sys.executable, "-m", "pilot", "render", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=scaled(30),
        env=env,
    )
    assert render.returncode == 0, render.stderr
    upstreams = (prefix / "upstreams.conf").read_text()
    locations = (prefix / "locations.conf").read_text()
    if passing:
        assert "upstream web {" in upstreams and "server 127.0.0.1:8080;" in upstreams
        assert "proxy_pass http://web/;" in locations
    else:
        assert "upstream web" not in upstreams and "# web: no passing instance" in upstreams
        assert "location /web/ {" in locations and "return 503;" in locations
    test = subprocess.run(
        ["nginx", "-t", "-p", str(prefix), "-c", str(conf)],
        capture_output=True,
        text=True,
        timeout=scaled(30),
    )
    assert test.returncode == 0, f"{test.stderr}\n{upstreams}\n{locations}"
