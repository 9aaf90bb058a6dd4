"""Templates end to end: real nginx under pilot, backends coming and going in the registry
(consul-dev, or real Consul when one is given)."""

from __future__ import annotations

import http.server
import os
import re
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.helpers import Pilot, Registry, require, scaled, wait_for

UPSTREAM = """# rendered by pilot
upstream backend {
{%- for i in service("backend") %}
    server {{ i.address }}:{{ i.port }};
{%- else %}
    server 127.0.0.1:1 down;
{%- endfor %}
}
"""


class Backend:
    """A tiny HTTP server answering with its name."""

    def __init__(self, name: str) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = name.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.name = name
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def register(self, registry: Registry, **extra: Any) -> None:
        registry.put(
            "/v1/agent/service/register",
            {
                "Name": "backend",
                "ID": self.name,
                "Address": "127.0.0.1",
                "Port": self.port,
                **extra,
            },
        )

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def backends() -> Iterator[Callable[[str], Backend]]:
    made: list[Backend] = []

    def make(name: str) -> Backend:
        backend = Backend(name)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def nginx_setup(tmp_path: Path, **template: Any) -> tuple[dict[str, Any], int]:
    """A pilot config running nginx with its own prefix, and the port it listens on."""
    require(
        shutil.which("nginx") is not None, "nginx is not installed (apt-get install nginx-light)"
    )
    require(os.geteuid() == 0, "nginx e2e tests run as root")
    port = free_port()
    prefix = tmp_path / "nginx"
    (prefix / "tmp").mkdir(parents=True)
    conf = prefix / "nginx.conf"
    conf.write_text(f"""
user root;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    include {prefix}/upstream.conf;
    server {{
        listen 127.0.0.1:{port};
        location / {{ proxy_pass http://backend; proxy_next_upstream error; }}
    }}
}}
""")
    nginx = ["nginx", "-p", str(prefix), "-c", str(conf)]
    config = {
        "logging": {"level": "debug"},
        "jobs": [
            {
                "name": "nginx",
                "exec": [*nginx, "-g", "daemon off;"],
                "restarts": "unlimited",
                "stop": {"signal": "SIGQUIT", "timeout": "5s"},
                "when": {"source": "template.upstream", "once": "rendered"},
            }
        ],
        "templates": [
            {
                "name": "upstream",
                "contents": UPSTREAM,
                "dest": str(prefix / "upstream.conf"),
                "check": [*nginx, "-t", "-q"],
                "on_change": [{"signal": "SIGHUP", "job": "nginx"}],
                **template,
            }
        ],
    }
    return config, port


def answer(port: int) -> str | None:
    try:
        response = requests.get(f"http://127.0.0.1:{port}/", timeout=scaled(2))
    except requests.RequestException:
        return None
    return response.text if response.status_code == 200 else f"HTTP {response.status_code}"


def master_pid(tmp_path: Path) -> int:
    return int((tmp_path / "nginx" / "nginx.pid").read_text())


def renders(p: Pilot) -> int:
    return len(re.findall(r"template\.upstream rendered", p.output))


def test_new_backend_gets_traffic_through_a_reload(
    pilot: Callable[..., Pilot],
    registry: Registry,
    backends: Callable[[str], Backend],
    tmp_path: Path,
) -> None:
    """A backend registered in the registry receives traffic through nginx within 2 s,
    and nginx was reloaded by SIGHUP (same master pid), not restarted."""
    config, port = nginx_setup(tmp_path)
    p = pilot({**config, "consul": registry.address})
    wait_for(lambda: answer(port) == "HTTP 502", 10, message="nginx up with no backend")
    pid = master_pid(tmp_path)
    first = backends("first")
    first.register(registry)
    wait_for(lambda: answer(port) == "first", 2, message="traffic to the new backend")
    second = backends("second")
    second.register(registry)
    wait_for(
        lambda: {answer(port) for _ in range(6)} == {"first", "second"},
        2,
        message="both backends served",
    )
    assert master_pid(tmp_path) == pid
    assert p.output.count("nginx started") == 1, p.output


def test_rejected_render_keeps_the_old_file(
    pilot: Callable[..., Pilot],
    registry: Registry,
    backends: Callable[[str], Backend],
    tmp_path: Path,
) -> None:
    """A render nginx -t rejects is rolled back, nginx keeps serving, the next good one applies."""
    config, port = nginx_setup(tmp_path)
    p = pilot({**config, "consul": registry.address})
    good = backends("good")
    good.register(registry)
    wait_for(lambda: answer(port) == "good", 10, message="serving")
    dest = tmp_path / "nginx" / "upstream.conf"
    before = dest.read_bytes()
    registry.put(
        "/v1/agent/service/register",
        {"Name": "backend", "ID": "broken", "Address": "not an address;", "Port": 1},
    )
    p.wait_for_output(r"check .* failed, previous file restored", 5)
    assert dest.read_bytes() == before
    assert answer(port) == "good"
    registry.put("/v1/agent/service/deregister/broken")
    other = backends("other")
    other.register(registry)
    wait_for(lambda: "other" in {answer(port) for _ in range(6)}, 3, message="next good change")


def workers(tmp_path: Path) -> set[int]:
    """The nginx master's children: a SIGHUP replaces them all (new workers, old ones quit)."""
    pid = master_pid(tmp_path)
    return {int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


def test_change_that_does_not_alter_the_output_writes_nothing(
    pilot: Callable[..., Pilot],
    registry: Registry,
    backends: Callable[[str], Backend],
    tmp_path: Path,
) -> None:
    """A meta change the template does not use leaves the file (inode, mtime) and nginx alone:
    asserted once pilot has seen the change, before a real change shows the same measures move."""
    config, port = nginx_setup(tmp_path)
    # A watch on the template's very query shares its long poll: its `changed` event (logged at
    # debug) says the answer carrying the new meta reached the template's listener too.
    config["watches"] = [{"name": "backend", "service": "backend"}]
    p = pilot({**config, "consul": registry.address})
    backend = backends("one")
    backend.register(registry, Meta={"v": "1"})
    wait_for(lambda: answer(port) == "one", 10, message="serving")
    wait_for(
        lambda: len(workers(tmp_path)) == 1, 5, message=f"one nginx worker: {workers(tmp_path)}"
    )
    dest = tmp_path / "nginx" / "upstream.conf"
    stat, pids, count = dest.stat(), workers(tmp_path), renders(p)
    seen = p.output.count("event watch.backend.changed")
    backend.register(registry, Meta={"v": "2"})
    wait_for(
        lambda: p.output.count("event watch.backend.changed") == seen + 1,
        3,
        message=f"pilot seeing the meta change\n{p.output}",
    )
    p.status()  # one more round trip through pilot's loop: the render attempt has run
    after = dest.stat()
    assert (after.st_ino, after.st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns), "file rewritten"
    assert renders(p) == count, p.output
    assert workers(tmp_path) == pids, "nginx was reloaded for a change that altered nothing"
    assert p.status()["templates"][0]["renders"] == count
    marker = backends("two")  # a real change: the same measures move
    marker.register(registry)
    wait_for(lambda: renders(p) == count + 1, 3, message="the real change rendered")
    wait_for(lambda: not workers(tmp_path) & pids, 5, message="nginx reloaded for the real change")
    assert dest.stat().st_ino != stat.st_ino


def test_min_instances_keeps_the_last_file(
    pilot: Callable[..., Pilot],
    registry: Registry,
    backends: Callable[[str], Backend],
    tmp_path: Path,
) -> None:
    """With min_instances, losing the last backend keeps the last good upstream file."""
    config, port = nginx_setup(tmp_path, min_instances={"backend": 1})
    p = pilot({**config, "consul": registry.address})
    backend = backends("only")
    backend.register(registry)
    wait_for(lambda: answer(port) == "only", 10, message="serving")
    dest = tmp_path / "nginx" / "upstream.conf"
    before = dest.read_bytes()
    registry.put("/v1/agent/service/deregister/only")
    p.wait_for_output("too few instances", 3)
    assert dest.read_bytes() == before
    assert b"server 127.0.0.1:" in before
