"""examples/devstack end to end: web → api → store under `pilot up`, wired only through the
injected addresses and the registry's DNS, with a remote-only service from a second registry
(consul-dev, or real Consul when one is given)."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from tests.helpers import PYTHON, REPO, Pilot, Registry, scaled, wait_for

EXAMPLE = REPO / "examples" / "devstack"
QUOTE = "Simplicity is prerequisite for reliability."


@pytest.fixture
def quotes() -> Iterator[int]:
    """The remote-only `quotes` service: an HTTP server answering one quote; yields its port."""

    class Quote(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = QUOTE.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quote)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def stack_config(remote: str) -> str:
    """The example's pilot.json5 with the README's `remote` section pointing at `remote`."""
    text = (EXAMPLE / "pilot.json5").read_text()
    head, _, _ = text.rstrip().rpartition("}")
    return f'{head}  remote: {{ consul: "{remote}", services: ["quotes"] }},\n}}\n'


def kept(root: Path) -> dict[str, int]:
    path = root / ".pilot" / "ports.json"
    return dict(json.loads(path.read_text())) if path.exists() else {}


def passing(root: Path, *names: str) -> bool:
    ports = kept(root)
    if "@consul" not in ports:
        return False
    url = f"http://127.0.0.1:{ports['@consul']}/v1/health/service"
    try:
        return all(
            requests.get(f"{url}/{name}?passing", timeout=scaled(5)).json() for name in names
        )
    except requests.ConnectionError:
        return False


def page(root: Path) -> str:
    try:
        answer = requests.get(f"http://127.0.0.1:{kept(root)['web']}/", timeout=scaled(5))
    except requests.ConnectionError:
        return ""
    return answer.text if answer.ok else ""


def beside(root: Path, *args: str) -> list[str]:
    """The output lines of `pilot ARGS` run beside pilot.json5 (no socket option needed)."""
    done = subprocess.run(
        [PYTHON, "-m", "pilot", *args],
        capture_output=True,
        text=True,
        timeout=scaled(30),
        cwd=root,
        env={k: v for k, v in os.environ.items() if k != "PILOT_SOCKET"}
        | {"PYTHONPATH": str(REPO)},
    )
    return done.stdout.splitlines()


def pids(p: Pilot) -> dict[str, int]:
    return {job["name"]: job["pid"] for job in p.status()["jobs"]}


@pytest.mark.slow
def test_devstack(
    pilot: Callable[..., Pilot], registry: Registry, quotes: int, tmp_path: Path
) -> None:
    """Requests flow web → api → store; editing api.py rebuilds and restarts api alone on the
    same port; a broken build keeps the old api; `pilot ctl rebuild api` restarts only api;
    `pilot logs api` shows only api's lines; `pilot traffic` shows who called whom; the remote
    quotes service is reached through QUOTES_URL; Ctrl-C stops the stack."""
    for name in ("store.py", "api.py", "web.py", "dnsfind.py"):
        shutil.copy(EXAMPLE / name, tmp_path / name)
    registry.put(
        "/v1/catalog/register",
        {
            "Node": "staging-1",
            "Address": "127.0.0.1",
            "Service": {"ID": "quotes-1", "Service": "quotes", "Port": quotes},
            "Check": {"CheckID": "q", "Name": "up", "Status": "passing", "ServiceID": "quotes-1"},
        },
    )
    p = pilot(stack_config(registry.url), command="up")
    p.socket = tmp_path / ".pilot" / "pilot.sock"
    wait_for(lambda: passing(tmp_path, "store", "api", "web"), 20, message="the stack passing")
    assert page(tmp_path) == f"items (api v1): APPLE, PEAR, QUINCE\nquote: {QUOTE}\n"
    before, api_port = pids(p), kept(tmp_path)["api"]

    source = tmp_path / "api.py"
    source.write_text(source.read_text().replace('VERSION = "1"', 'VERSION = "2"'))
    wait_for(lambda: "api v2" in page(tmp_path), 20, message="the new api serving")
    after = pids(p)
    assert after["api"] != before["api"]
    assert (after["web"], after["store"]) == (before["web"], before["store"])
    assert kept(tmp_path)["api"] == api_port

    good = source.read_text()
    source.write_text(good.replace("class Api", "class Api(:"))
    p.wait_for_output(r"api: build failed, the running process is kept", 20)
    assert pids(p) == after and "api v2" in page(tmp_path)
    source.write_text(good)
    wait_for(lambda: pids(p)["api"] not in (None, after["api"]), 20, message="fixed api")
    fixed = pids(p)["api"]

    assert p.ctl("rebuild", "api").returncode == 0
    wait_for(lambda: pids(p)["api"] not in (None, fixed), 10, message="api rebuilt")
    wait_for(lambda: "api v2" in page(tmp_path), 10, message="api serving again")
    assert (pids(p)["web"], pids(p)["store"]) == (before["web"], before["store"])
    assert kept(tmp_path)["api"] == api_port

    lines = beside(tmp_path, "logs", "api")
    assert any('api: "GET /items' in line for line in lines)
    for line in lines:
        label, _, text = line.split(" ", 1)[1].partition(" | ")
        assert label.strip() in ("api", "pilot"), line
        assert not text.startswith(("web:", "store:")), line

    calls = beside(tmp_path, "traffic", "api", "store")  # the monitor saw every call
    assert any("web → api  GET /items  200" in line for line in calls)
    assert any("api → store  GET /" in line for line in calls)

    p.signal(signal.SIGINT)
    assert p.wait(20) == 0
