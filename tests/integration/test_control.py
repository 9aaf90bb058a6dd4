"""The control socket and `pilot ctl` against a running pilot."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.helpers import SIGNAL_RECORDER, Pilot, Registry, python_job, read_lines, scaled, wait_for

APP = python_job("""
    import os, time
    colour, sock = os.environ.get("COLOUR", "-"), os.environ["PILOT_SOCKET"]
    open("env.log", "a").write(f"{colour} {sock}\\n")
    while True:
        time.sleep(60)
""")


def config(tmp_path: Path, **extra: object) -> dict[str, object]:
    return {
        "jobs": [
            {"name": "app", "main": True, "exec": APP},
            {"name": "rec", "exec": [*SIGNAL_RECORDER, str(tmp_path / "rec")]},
        ],
        **extra,
    }


def raw(
    sock: Path, method: str, path: str, body: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    class Connection(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.connect(str(sock))

    connection = Connection("localhost", timeout=scaled(10))
    connection.request(method, path, body=body)
    response = connection.getresponse()
    return response.status, dict(response.getheaders()), response.read()


def started(p: Pilot, tmp_path: Path) -> None:
    wait_for(
        lambda: read_lines(tmp_path / "env.log") and (tmp_path / "rec.ready").exists(),
        10,
        message="jobs up",
    )


def test_socket_is_private_and_ping_answers(pilot: Callable[..., Pilot], tmp_path: Path) -> None:
    """The socket is mode 0600, PILOT_SOCKET names it for jobs, and ping answers."""
    p = pilot(config(tmp_path))
    started(p, tmp_path)
    assert stat.S_IMODE(os.stat(p.socket).st_mode) == 0o600
    assert read_lines(tmp_path / "env.log")[0].endswith(str(p.socket))
    result = p.ctl("ping")
    assert result.returncode == 0 and result.stdout.strip() == "ok"


def test_status(pilot: Callable[..., Pilot], registry: Registry, tmp_path: Path) -> None:
    """status, as JSON and as text: jobs with state, pid, health and last exit; services with
    their registration; watches with instance counts; templates with their last render."""
    port = _free_port()
    cfg = config(
        tmp_path,
        consul=registry.address,
        watches=[{"name": "apps", "service": "app"}],
        templates=[
            {
                "name": "ports",
                "contents": "{% for i in service('app') %}{{ i.port }}{% endfor %}\n",
                "dest": str(tmp_path / "ports.conf"),
            }
        ],
    )
    cfg["jobs"][0].update(
        port=port,
        interfaces=["static:127.0.0.1"],
        health={"exec": ["true"], "interval": "1s"},
    )
    cfg["jobs"].append({"name": "once", "exec": ["sh", "-c", "exit 3"]})
    began = time.time()
    p = pilot(cfg)
    started(p, tmp_path)

    def settled() -> bool:
        status = p.status()
        jobs = {job["name"]: job for job in status["jobs"]}
        return (
            jobs["app"]["health"] == "healthy"
            and jobs["once"]["state"] == "exited"
            and [s["status"] for s in status["services"]] == ["passing"]
            and [w["instances"] for w in status["watches"]] == [1]
            and (tmp_path / "ports.conf").exists()
            and (tmp_path / "ports.conf").read_text() == f"{port}\n"
        )

    wait_for(settled, 10, message=f"app healthy, registered, watched, rendered\n{p.output}")
    document = json.loads(p.ctl("status", "--json").stdout)
    jobs = {job["name"]: job for job in document["jobs"]}
    assert jobs["app"]["state"] == "running" and jobs["app"]["pid"] > 0
    assert jobs["app"]["health"] == "healthy" and jobs["app"]["last_exit"] is None
    assert jobs["rec"]["health"] is None
    assert jobs["once"]["last_exit"] == 3 and jobs["once"]["pid"] is None
    assert document["maintenance"] is False
    [service] = document["services"]
    assert (service["name"], service["job"], service["address"], service["port"]) == (
        "app",
        "app",
        "127.0.0.1",
        port,
    )
    assert service["registered"] is True and service["status"] == "passing"
    assert registry.instances("app", passing=True)[0]["Service"]["ID"] == service["id"]
    [watch] = document["watches"]
    assert watch["name"] == "apps" and watch["instances"] == 1 and watch["healthy"] is True
    [template] = document["templates"]
    assert template["name"] == "ports" and template["dest"] == str(tmp_path / "ports.conf")
    assert template["rendered"] is True and template["renders"] >= 1
    assert began <= template["last_render"] <= time.time()
    assert template["failures"] == 0 and template["last_error"] is None
    lines = p.ctl("status").stdout.splitlines()[1:]
    rows = {line.split()[0]: line.split() for line in lines if line.strip()}
    assert rows["JOB"][:4] == ["JOB", "STATE", "PID", "RUNS"]
    assert rows["app"][1:3] == ["running", str(jobs["app"]["pid"])] and "healthy" in rows["app"]
    assert rows["rec"][1] == "running"
    assert rows["once"][1:3] == ["exited", "-"] and rows["once"][5] == "3"
    assert rows[service["id"]][1:4] == [f"127.0.0.1:{port}", "yes", "passing"]
    assert rows["apps"][1:3] == ["1", "yes"]
    assert rows["ports"][1] == str(tmp_path / "ports.conf")


def test_ctl_finds_the_socket_through_pilot_socket(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    """Without --socket, pilot ctl uses $PILOT_SOCKET: from a job (which has it set) and from
    a shell that sets it; a PILOT_SOCKET naming nothing is unreachable (exit 2)."""
    from tests.helpers import PYTHON, REPO

    marker = tmp_path / "from-job"
    cfg = config(tmp_path)
    cfg["jobs"].append(
        {
            "name": "caller",
            "exec": ["sh", "-c", f'"$0" -m pilot ctl ping > {marker}', PYTHON],
        }
    )
    p = pilot(cfg, env={"PILOT_CONFIG": "", "PILOT_SOCKET": ""})
    started(p, tmp_path)
    wait_for(lambda: read_lines(marker) == ["ok"], 10, message=f"ctl ping from a job\n{p.output}")
    env = {k: v for k, v in os.environ.items() if k not in ("PILOT_SOCKET", "PILOT_CONFIG")}
    env["PYTHONPATH"] = str(REPO)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    def ctl(socket_path: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [PYTHON, "-m", "pilot", "ctl", *args],
            capture_output=True,
            text=True,
            timeout=scaled(30),
            cwd=elsewhere,
            env={**env, "PILOT_SOCKET": socket_path},
        )

    result = ctl(str(p.socket), "ping")
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
    assert ctl(str(p.socket), "signal", "rec", "SIGUSR2").returncode == 0
    wait_for(lambda: read_lines(tmp_path / "rec") == ["SIGUSR2"], 5, message="signal delivered")
    missing = ctl(str(tmp_path / "nothing.sock"), "ping")
    assert missing.returncode == 2 and "nothing.sock" in missing.stderr


def test_putenv_applies_to_the_next_run(pilot: Callable[..., Pilot], tmp_path: Path) -> None:
    """putenv values reach a job's next run (after ctl restart), not the running one."""
    p = pilot(config(tmp_path))
    started(p, tmp_path)
    assert p.ctl("putenv", "COLOUR=blue").returncode == 0
    assert p.ctl("restart", "app").returncode == 0
    wait_for(lambda: len(read_lines(tmp_path / "env.log")) == 2, 5, message="second run")
    assert read_lines(tmp_path / "env.log")[1].startswith("blue ")


def test_putenv_refuses_a_nul_byte_and_the_job_still_starts(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    """A value holding a NUL byte is a 400 (no environment can carry it), and the job's next
    run starts as usual."""
    p = pilot(config(tmp_path))
    started(p, tmp_path)
    status, _, body = raw(p.socket, "POST", "/v3/environ", b'{"COLOUR": "bl\\u0000ue"}')
    assert status == 400 and b"NUL" in body, body
    assert p.ctl("restart", "app").returncode == 0
    wait_for(lambda: len(read_lines(tmp_path / "env.log")) == 2, 5, message="restarted")


def test_signal_stop_start_and_errors(pilot: Callable[..., Pilot], tmp_path: Path) -> None:
    """signal reaches the job; stop/start work, even on the main job; errors exit 1."""
    p = pilot(config(tmp_path))
    started(p, tmp_path)
    assert p.ctl("signal", "rec", "SIGUSR1").returncode == 0
    wait_for(lambda: read_lines(tmp_path / "rec") == ["SIGUSR1"], 5, message="signal delivered")
    assert p.ctl("stop", "app").returncode == 0
    status = json.loads(p.ctl("status", "--json").stdout)
    assert {j["name"]: j["state"] for j in status["jobs"]}["app"] == "stopped"
    assert p.proc.poll() is None, "stopping the main job through the socket keeps pilot running"
    assert p.ctl("start", "app").returncode == 0
    wait_for(lambda: len(read_lines(tmp_path / "env.log")) == 2, 5, message="started again")
    missing = p.ctl("restart", "nope")
    assert missing.returncode == 1 and "no job named 'nope'" in missing.stderr
    assert p.ctl("signal", "rec", "SIGNOTHING").returncode == 1


def test_http_errors(pilot: Callable[..., Pilot], tmp_path: Path) -> None:
    """Wrong method 405 with Allow, unknown path 404, bad JSON 400, all as JSON errors."""
    p = pilot(config(tmp_path))
    started(p, tmp_path)
    status, headers, body = raw(p.socket, "GET", "/v3/reload")
    assert status == 405 and headers["Allow"] == "POST" and "error" in json.loads(body)
    assert raw(p.socket, "GET", "/v9/nothing")[0] == 404
    assert raw(p.socket, "POST", "/v3/environ", b"{not json")[0] == 400
    assert raw(p.socket, "POST", "/v1/jobs/nope/restart")[0] == 404
    assert raw(p.socket, "POST", "/v3/metric", b'{"x": 1}')[0] == 422
    for body, error in (
        (b'{"signal": "SIGNOTHING"}', "'SIGNOTHING' is not a signal name"),
        (b'"SIGHUP"', 'expected {"signal": "SIGHUP"}'),
    ):
        status, headers, answer = raw(p.socket, "POST", "/v1/jobs/rec/signal", body)
        assert status == 400 and headers["Content-Type"].startswith("application/json")
        assert json.loads(answer) == {"error": error}
    assert read_lines(tmp_path / "rec") == [], "a rejected signal reached the job"


def test_unreachable_socket_exits_2(tmp_path: Path, pilot: Callable[..., Pilot]) -> None:
    """pilot ctl exits 2 when nothing answers on the socket."""
    p = pilot(config(tmp_path))
    p.stop()
    assert p.ctl("ping").returncode == 2


def test_second_pilot_on_the_same_socket_refuses(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    """A socket another pilot answers on is not stolen: the second pilot exits 2."""
    first = pilot(config(tmp_path))
    started(first, tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    second = Pilot(
        {
            "control": {"socket": str(first.socket)},
            "jobs": [{"name": "x", "exec": ["sleep", "30"]}],
        },
        other,
    )
    try:
        assert second.wait(10) == 2
        assert "another pilot is listening" in second.output
    finally:
        second.stop()
    assert first.ctl("ping").returncode == 0


def test_stale_socket_is_replaced(pilot: Callable[..., Pilot], tmp_path: Path) -> None:
    """A socket file left by a dead pilot is replaced."""
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(tmp_path / "pilot.sock"))
    stale.close()  # the file stays, nobody listens
    p = pilot(config(tmp_path))
    started(p, tmp_path)
    assert p.ctl("ping").returncode == 0


def metric_samples(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """/metrics parsed by prometheus_client: (name, sorted labels) → value."""
    import requests
    from prometheus_client.parser import text_string_to_metric_families

    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=scaled(5)).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_restarts_and_pushed_counter(pilot: Callable[..., Pilot], tmp_path: Path) -> None:
    """/metrics: after 3 restarts the restart counter reads 3; a pushed counter reads 42."""
    import requests

    port = _free_port()
    cfg = {
        "telemetry": {
            "port": port,
            "interfaces": ["static:127.0.0.1"],
            "metrics": [
                {"name": "jobs_done", "type": "counter"},
                {"name": "queue", "type": "gauge", "labels": ["kind"]},
            ],
        },
        "jobs": [
            {"name": "app", "main": True, "exec": ["sleep", "300"]},
            {
                "name": "flaky",
                "exec": ["sh", "-c", "exit 1"],
                "restarts": 3,
                "backoff": {"initial": "10ms"},
            },
        ],
    }
    p = pilot(cfg)
    p.wait_for_output("flaky exited code=1", 5)
    wait_for(lambda: p.output.count("flaky exited") == 4, 5, message="3 restarts")
    assert p.ctl("putmetric", "jobs_done=40").returncode == 0
    assert p.ctl("putmetric", "jobs_done=2", 'queue{kind="a"}=7').returncode == 0
    unknown = p.ctl("putmetric", "nope=1")
    assert unknown.returncode == 1 and "unknown metric" in unknown.stderr
    samples = metric_samples(port)
    assert samples[("pilot_job_restarts_total", (("job", "flaky"),))] == 3
    assert samples[("jobs_done_total", ())] == 42
    assert samples[("queue", (("kind", "a"),))] == 7
    assert samples[("pilot_job_up", (("job", "app"),))] == 1
    assert any(name == "pilot_events_total" for name, _ in samples)
    assert any(name.startswith("process_") for name, _ in samples)
    status = requests.get(f"http://127.0.0.1:{port}/status", timeout=scaled(5)).json()
    assert {job["name"] for job in status["jobs"]} == {"app", "flaky"}


def test_putmetric_observes_histograms_and_summaries(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    """putmetric into a declared histogram and a summary observes: _count and _sum move (and
    the histogram's buckets), with and without labels."""
    port = _free_port()
    cfg = {
        "telemetry": {
            "port": port,
            "interfaces": ["static:127.0.0.1"],
            "metrics": [
                {"name": "latency_seconds", "type": "histogram"},
                {"name": "payload_bytes", "type": "summary", "labels": ["kind"]},
            ],
        },
        "jobs": [{"name": "app", "main": True, "exec": ["sleep", "300"]}],
    }
    p = pilot(cfg)
    p.wait_for_output("telemetry on", 5)

    def samples() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        return metric_samples(port)

    before = samples()
    assert before[("latency_seconds_count", ())] == 0
    assert before[("latency_seconds_sum", ())] == 0
    for value in ("0.2", "0.4", "3"):
        assert p.ctl("putmetric", f"latency_seconds={value}").returncode == 0
    assert p.ctl("putmetric", 'payload_bytes{kind="a"}=100').returncode == 0
    assert p.ctl("putmetric", 'payload_bytes{kind="a"}=50').returncode == 0
    assert p.ctl("putmetric", 'payload_bytes{kind="b"}=7').returncode == 0
    after = samples()
    assert after[("latency_seconds_count", ())] == 3
    assert abs(after[("latency_seconds_sum", ())] - 3.6) < 1e-9
    assert after[("latency_seconds_bucket", (("le", "0.25"),))] == 1
    assert after[("latency_seconds_bucket", (("le", "0.5"),))] == 2
    assert after[("latency_seconds_bucket", (("le", "+Inf"),))] == 3
    assert after[("payload_bytes_count", (("kind", "a"),))] == 2
    assert after[("payload_bytes_sum", (("kind", "a"),))] == 150
    assert after[("payload_bytes_count", (("kind", "b"),))] == 1
    assert after[("payload_bytes_sum", (("kind", "b"),))] == 7
    wrong = p.ctl("putmetric", 'latency_seconds{kind="a"}=1')
    assert wrong.returncode == 1
    assert samples()[("latency_seconds_count", ())] == 3


def test_telemetry_is_registered_in_consul(
    pilot: Callable[..., Pilot], registry: Registry, tmp_path: Path
) -> None:
    """When pilot talks to Consul, the telemetry endpoint is service pilot-telemetry, passing
    while pilot runs and gone after it stops; `register: false` keeps it out."""
    port = _free_port()
    telemetry = {"port": port, "interfaces": ["static:127.0.0.1"]}
    jobs = [{"name": "app", "main": True, "exec": ["sleep", "300"]}]
    consul = {"consul": registry.address, "watches": [{"name": "w", "service": "x"}]}
    p = pilot({**consul, "telemetry": telemetry, "jobs": jobs})

    def advertised() -> list[tuple[str, int]]:
        return [
            (entry["Service"]["Address"], entry["Service"]["Port"])
            for entry in registry.instances("pilot-telemetry", passing=True)
        ]

    wait_for(lambda: advertised() == [("127.0.0.1", port)], 5, message="pilot-telemetry passing")
    p.signal(signal.SIGTERM)
    assert p.wait() == 143
    assert registry.instances("pilot-telemetry") == []
    quiet = {**telemetry, "port": _free_port(), "register": False}
    q = pilot({**consul, "telemetry": quiet, "jobs": jobs})
    q.wait_for_output("telemetry on", 5)
    wait_for(lambda: q.status()["services"] == [], 2, message="status")
    assert registry.instances("pilot-telemetry") == []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
