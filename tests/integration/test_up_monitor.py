"""`pilot up` with the traffic monitor: a monitored service listens on an internal port behind
pilot's recording proxy, callers do not change, and `pilot traffic` lists, follows, shows and
exports what they exchanged."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.helpers import REPO, Pilot, python_job, scaled, wait_for

# An HTTP service: writes its environment to <name>.env; GET /call asks $API_URL/hello (so a
# call between two services of the stack goes through api's proxy); anything else answers
# JSON naming the service and the path.
SERVICE = python_job("""
    import http.server, json, os, sys, urllib.request
    name = sys.argv[1]
    json.dump(dict(os.environ), open(name + ".env", "w"))
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        def do_GET(self):
            if self.path == "/call":
                body = urllib.request.urlopen(os.environ["API_URL"] + "/hello").read()
            else:
                body = json.dumps({"service": name, "path": self.path}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *args):
            pass
    http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
""")


def stack(tmp_path: Path, **monitor: Any) -> dict[str, Any]:
    return {
        "monitor": {"listen": "127.0.0.1:0", **monitor},
        "jobs": [
            {"name": name, "exec": [*SERVICE, name], "port": "auto"} for name in ("api", "web")
        ],
        "control": {"socket": str(tmp_path / "pilot.sock")},
    }


def kept(tmp_path: Path) -> dict[str, int]:
    path = tmp_path / ".pilot" / "ports.json"
    return dict(json.loads(path.read_text())) if path.exists() else {}


def env_of(tmp_path: Path, name: str) -> dict[str, str]:
    path = tmp_path / f"{name}.env"
    return dict(json.loads(path.read_text())) if path.exists() else {}


def traffic(p: Pilot, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pilot", "traffic", "--socket", str(p.socket), *args],
        capture_output=True,
        text=True,
        timeout=scaled(timeout),
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=p.workdir,
    )


def exchanges(p: Pilot, *names: str) -> list[dict[str, Any]]:
    out = traffic(p, "--json", *names)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def serving(url: str) -> bool:
    try:
        return requests.get(url, timeout=scaled(2)).status_code == 200
    except requests.ConnectionError:
        return False


def started(pilot: Callable[..., Pilot], tmp_path: Path, **monitor: Any) -> Pilot:
    p = pilot(stack(tmp_path, **monitor), command="up")
    wait_for(
        lambda: all(
            name in kept(tmp_path) and serving(f"http://127.0.0.1:{kept(tmp_path)[name]}/")
            for name in ("api", "web")
        ),
        15,
        message="api and web serving through their proxies",
    )
    return p


def test_a_monitored_service_is_served_by_the_proxy_and_its_exchanges_recorded(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    """The service listens on its internal port (`PORT`); its advertised port, `API_URL` and
    the registration are the proxy's; a call from another service of the stack is recorded
    with that service's name, and `pilot traffic` lists it."""
    p = started(pilot, tmp_path)
    ports = kept(tmp_path)
    api_env = env_of(tmp_path, "api")
    assert api_env["PORT"] == str(ports["api@monitor"]) != str(ports["api"])
    assert api_env["API_URL"] == f"http://127.0.0.1:{ports['api']}"
    direct = requests.get(f"http://127.0.0.1:{ports['api@monitor']}/direct", timeout=scaled(5))
    assert direct.json() == {"service": "api", "path": "/direct"}
    called = requests.get(f"http://127.0.0.1:{ports['web']}/call", timeout=scaled(5))
    assert called.json() == {"service": "api", "path": "/hello"}
    wait_for(lambda: any(e["url"] == "/hello" for e in exchanges(p, "api")), 10, message="recorded")
    [hello] = [e for e in exchanges(p, "api") if e["url"] == "/hello"]
    assert (hello["service"], hello["method"], hello["status"]) == ("api", "GET", 200)
    assert hello["client_service"] == "web"
    assert json.loads(hello["response"]["body"]["text"]) == {"service": "api", "path": "/hello"}
    assert not any(e["url"] == "/direct" for e in exchanges(p))  # not through the proxy
    web_calls = [e for e in exchanges(p, "web") if e["url"] == "/call"]
    assert web_calls and web_calls[0]["client_service"] is None  # the test is no service
    listing = traffic(p)
    assert listing.returncode == 0
    assert any("web → api  GET /hello  200" in line for line in listing.stdout.splitlines())
    page = p.status()["monitor"]
    assert (
        page.startswith("http://127.0.0.1:")
        and "traffic monitor: " + page in p.ctl("status").stdout
    )
    assert "text/html" in requests.get(page, timeout=scaled(5)).headers["Content-Type"]
    consul = f"127.0.0.1:{ports['@consul']}"
    passing = f"http://{consul}/v1/health/service/api?passing"
    [entry] = requests.get(passing, timeout=scaled(5)).json()
    assert entry["Service"]["Port"] == ports["api"]  # registered at the proxy
    p.signal(signal.SIGTERM)
    assert p.wait(15) == 0


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_a_call_from_a_child_of_a_job_is_the_jobs(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    """A shell job whose curl (its child, not the job's own process) calls api is named as
    the caller."""
    config = stack(tmp_path)
    # curl again until api answers (it may still be starting); the job itself is the shell
    script = 'until curl -sf "$API_URL/from-child" >/dev/null; do sleep 0.2; done; exec sleep 600'
    config["jobs"].append({"name": "cron", "exec": ["sh", "-c", script]})
    p = pilot(config, command="up")
    wait_for(lambda: p.socket.exists(), 15, message="control socket")
    wait_for(
        lambda: any(e["url"] == "/from-child" for e in exchanges(p, "api")),
        20,
        message="the child's call recorded",
    )
    calls = [e for e in exchanges(p, "api") if e["url"] == "/from-child"]
    assert [e["client_service"] for e in calls] == ["cron"] * len(calls)
    p.signal(signal.SIGTERM)
    assert p.wait(15) == 0


def test_pilot_traffic_follows_shows_one_whole_and_exports_har(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    """`-f` prints an exchange made after it started; `show ID` prints headers and the body
    pretty-printed, with Authorization masked; `--har` writes a HAR 1.2 file."""
    p = started(pilot, tmp_path)
    api = f"http://127.0.0.1:{kept(tmp_path)['api']}"
    follow = subprocess.Popen(
        [sys.executable, "-m", "pilot", "traffic", "-f", "--socket", str(p.socket), "api"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        wait_for(lambda: traffic(p).returncode == 0, 10, message="pilot traffic answers")
        bearer = {"Authorization": "Bearer s3cret"}
        requests.get(f"{api}/followed", headers=bearer, timeout=scaled(5))
        assert follow.stdout is not None
        # the earlier exchanges come first; the read is bounded by the test's timeout
        line = next(line for line in follow.stdout if "/followed" in line)
        assert "GET /followed  200" in line
    finally:
        follow.kill()
        follow.wait()
    [followed] = [e for e in exchanges(p, "api") if e["url"] == "/followed"]
    shown = traffic(p, "show", str(followed["id"]))
    assert shown.returncode == 0, shown.stderr
    assert "GET /followed HTTP/1.1" in shown.stdout and "HTTP/1.1 200" in shown.stdout
    assert "Authorization: [masked]" in shown.stdout and "s3cret" not in shown.stdout
    assert '{\n  "service": "api",\n  "path": "/followed"\n}' in shown.stdout
    har = tmp_path / "api.har"
    assert traffic(p, "--har", str(har), "api").returncode == 0
    log = json.loads(har.read_text())["log"]
    assert log["version"] == "1.2"
    assert any(
        entry["request"]["url"] == f"{api}/followed" and entry["response"]["status"] == 200
        for entry in log["entries"]
    )
    missing = traffic(p, "show", "999999")
    assert missing.returncode == 1 and "no exchange 999999" in missing.stderr
    p.signal(signal.SIGTERM)
    assert p.wait(15) == 0


def test_without_a_monitor_pilot_traffic_says_how_to_get_one(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    config = {**stack(tmp_path), "monitor": False}
    p = pilot(config, command="up")
    wait_for(lambda: "api" in kept(tmp_path), 15, message="api's port kept")
    wait_for(lambda: p.socket.exists(), 10, message="control socket")
    out = traffic(p)
    assert out.returncode == 1 and "monitor: true" in out.stderr
    p.signal(signal.SIGTERM)
    assert p.wait(15) == 0


def test_a_reload_that_monitors_a_service_starts_the_monitor(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    """A stack started without the monitor gets it from a reload that turns it on: the
    service restarts on its internal port and its advertised port is the proxy's."""
    config = {**stack(tmp_path), "monitor": False}
    p = pilot(config, command="up")
    wait_for(lambda: "api" in kept(tmp_path), 15, message="api's port kept")
    api = f"http://127.0.0.1:{kept(tmp_path)['api']}"
    wait_for(lambda: serving(f"{api}/"), 15, message="api serving on its own port")
    p.config_path.write_text(json.dumps({**config, "monitor": {"listen": "127.0.0.1:0"}}))
    assert p.ctl("reload").returncode == 0
    wait_for(
        lambda: env_of(tmp_path, "api").get("PORT") == str(kept(tmp_path).get("api@monitor")),
        15,
        message="api restarted on its internal port",
    )
    wait_for(lambda: serving(f"{api}/after-reload"), 15, message="api serving through the proxy")
    assert any(e["url"] == "/after-reload" for e in exchanges(p, "api"))
    p.signal(signal.SIGTERM)
    assert p.wait(15) == 0


# A quiet HTTP service that takes connections as fast as they come (a deep accept queue).
QUIET = python_job("""
    import http.server, os
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
        def log_message(self, *args):
            pass
    class Server(http.server.ThreadingHTTPServer):
        request_queue_size = 1024
        daemon_threads = True
    Server(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
""")


def flood(port: int, seconds: float, clients: int) -> int:
    """New connections to `port`, each one GET, from `clients` threads for `seconds`; how
    many were answered."""
    answered = [0] * clients
    until = time.monotonic() + seconds

    def client(index: int) -> None:
        while time.monotonic() < until:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", port), timeout=5) as sock,
            ):
                sock.sendall(b"GET /flood HTTP/1.1\r\nHost: api\r\n\r\n")
                if sock.recv(100).startswith(b"HTTP/1.1 200 "):
                    answered[index] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(answered)


def test_a_flood_of_connections_leaves_health_checks_on_time(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    """Connections flooding a monitored port do not starve pilot: its health check (a TCP
    connect to the service's own port every 250 ms, failing after 250 ms) stays passing. The
    callers are looked up by one thread, however many connect (a thread each, contending for
    the GIL, starved the event loop)."""
    config = {
        "monitor": {"listen": "127.0.0.1:0"},
        "jobs": [{"name": "api", "exec": QUIET, "port": "auto"}],
        "control": {"socket": str(tmp_path / "pilot.sock")},
    }
    p = pilot(config, command="up")
    p.wait_for_output("api is healthy", 15)
    def thread_count() -> int:
        status = Path(f"/proc/{p.pilot_pid}/status").read_text().splitlines()
        return int(next(line for line in status if line.startswith("Threads:")).split()[1])

    threads = [thread_count()]
    done = threading.Event()

    def count_threads() -> None:
        while not done.wait(0.05):
            threads.append(thread_count())

    counter = threading.Thread(target=count_threads)
    counter.start()
    try:
        answered = flood(kept(tmp_path)["api"], seconds=8, clients=16)
    finally:
        done.set()
        counter.join()
    assert answered > 50, "the flood got through"
    assert "api is unhealthy" not in p.output, p.output
    assert max(threads) <= threads[0] + 2, threads  # one looks callers up
    assert [e["client_service"] for e in exchanges(p, "api")][-1:] == [None]
    p.signal(signal.SIGTERM)
    assert p.wait(15) == 0


def test_har_export_writes_no_file_it_did_not_create(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    """A symlink planted where a predictable temporary name would be is left alone (and so is
    its target): the HAR goes through a file made exclusively, then renamed; a directory that
    does not exist is one clear error."""
    p = started(pilot, tmp_path)
    victim = tmp_path / "victim"
    victim.write_text("precious")
    har = tmp_path / "api.har"
    # the shell plants the link under its own pid, which `exec` hands on to pilot traffic
    script = 'ln -s "$1" "$0.tmp$$" && exec "$2" -m pilot traffic --socket "$3" --har "$0"'
    argv = ["sh", "-c", script, str(har), str(victim), sys.executable, str(p.socket)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    written = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env)
    assert written.returncode == 0, written.stderr
    assert victim.read_text() == "precious"
    assert not har.is_symlink() and json.loads(har.read_text())["log"]["version"] == "1.2"
    assert har.stat().st_mode & 0o777 == 0o600
    [planted] = tmp_path.glob("api.har.tmp*")
    assert planted.is_symlink()
    assert not list(tmp_path.glob(".api.har.*"))  # no temporary file left
    missing = traffic(p, "--har", str(tmp_path / "no" / "such" / "dir.har"))
    assert missing.returncode == 1
    assert f"--har {tmp_path}/no/such/dir.har: No such file or directory" in missing.stderr
    p.signal(signal.SIGTERM)
    assert p.wait(15) == 0
