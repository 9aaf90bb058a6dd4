"""examples/nginx end to end: each pilot is its own emulated container (PID 1 in its own
namespaces, own hostname and loopback address); one registry (consul-dev, or real Consul when
one is given) plays Consul."""

from __future__ import annotations

import base64
import os
import shutil
import signal
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.e2e.containers import Container, backend_container, nginx_container, require_containers
from tests.helpers import Registry, require, scaled, self_signed_certificate, wait_for

NGINX = "127.0.0.2"


@pytest.fixture
def world(registry: Registry, tmp_path: Path) -> Iterator[World]:
    require_containers()
    require(
        shutil.which("nginx") is not None, "nginx is not installed (apt-get install nginx-light)"
    )
    world = World(registry, tmp_path)
    yield world
    for container in world.containers:
        container.cleanup()


class World:
    """The registry, one nginx, and backends started on demand."""

    def __init__(self, registry: Registry, root: Path) -> None:
        self.registry, self.root = registry, root
        self.containers: list[Container] = []
        with socket.socket() as sock:
            sock.bind((NGINX, 0))
            self.port = int(sock.getsockname()[1])

    def nginx(self, **env: str) -> Container:
        container = nginx_container(
            self.registry.address, self.root / "nginx", self.port, NGINX, **env
        ).start()
        self.containers.append(container)
        return container

    def backend(self, number: int, **env: str) -> Container:
        container = backend_container(
            self.registry.address, self.root / f"backend-{number}", number, **env
        ).start()
        self.containers.append(container)
        return container

    def get(self, path: str = "/") -> str:
        try:
            answer = requests.get(f"http://{NGINX}:{self.port}{path}", timeout=scaled(3))
        except requests.RequestException:
            return "no answer"
        return answer.text.strip() if answer.status_code == 200 else f"HTTP {answer.status_code}"

    def served(self, tries: int = 12) -> set[str]:
        return {self.get() for _ in range(tries)}

    def upstream(self) -> set[str]:
        text = (self.root / "nginx" / "nginx" / "site.conf").read_text()
        return {
            line.split()[1].rstrip(";")
            for line in text.splitlines()
            if line.strip().startswith("server ") and ":" in line
        }

    def passing(self, service: str) -> list[str]:
        return [e["Service"]["Address"] for e in self.registry.instances(service, passing=True)]

    def master_pid(self) -> int:
        return int((self.root / "nginx" / "nginx" / "nginx.pid").read_text())

    def reloads(self) -> int:
        """Renders applied: each one changed site.conf, passed `nginx -t` and sent SIGHUP."""
        return (self.root / "nginx" / "pilot.log").read_text().count("template.site rendered")

    def workers(self, nginx: Container) -> set[int]:
        """nginx's worker pids (host view): a reload replaces every one of them."""
        found = set()
        for pid in nginx.processes():
            try:
                title = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].strip()
            except OSError:
                continue
            if title == b"nginx: worker process":  # not "... is shutting down"
                found.add(pid)
        return found

    def follows_registry(self, count: int) -> None:
        """Once `count` backends are passing in the registry, the rendered upstream equals that
        passing set and nginx serves exactly those backends, within 3 s."""
        since = wait_for(
            lambda: len(self.passing("backend")) == count and time.monotonic(),
            15,
            message=f"{count} backends passing in the registry",
        )
        passing = self.passing("backend")
        expected = {f"{address}:8000" for address in passing}
        names = {f"backend-{int(address.rsplit('.', 1)[1]) - 10}" for address in passing}
        wait_for(
            lambda: self.upstream() == expected and self.served(30) == names,
            since + 3 - time.monotonic(),
            message=f"upstream and answers = passing set {sorted(expected)}",
        )
        took = time.monotonic() - since
        print(f"{count} passing -> upstream and answers followed in {took:.2f} s")
        assert took <= scaled(3), f"{took:.2f} s after the registry"


def test_cold_start_then_backends_come(world: World) -> None:
    """No backend: 503 and nginx passing; 1 then 3 backends: the upstream follows the registry
    within 3 s, requests reach all of them, and nginx's master never changes."""
    world.nginx()
    wait_for(lambda: world.get() == "HTTP 503", 10, message="503 with no backend")
    wait_for(lambda: world.passing("nginx") == [NGINX], 5, message="nginx passing")
    master = world.master_pid()
    world.backend(1)
    world.follows_registry(1)
    for n in (2, 3):
        world.backend(n)
    world.follows_registry(3)
    assert world.served(30) == {"backend-1", "backend-2", "backend-3"}
    assert world.master_pid() == master


def test_backend_leaves_before_it_stops_and_last_one_gives_503(world: World) -> None:
    """A stopped backend leaves the upstream first; with the last one gone nginx answers 503."""
    world.nginx()
    # The drain covers the way to nginx (Consul, watch, render, reload), as slow as the machine,
    # yet at most 6 s: with the app's stop it must fit pilot's whole-shutdown bound (9 s), or the
    # backend is killed (137) instead of exiting 0.
    first = world.backend(1, BACKEND_DRAIN=f"{min(scaled(2), 6.0):g}s")
    second = world.backend(2)
    wait_for(lambda: world.served(20) == {"backend-1", "backend-2"}, 10, message="both served")
    master = world.master_pid()
    os.kill(first.pid1, signal.SIGTERM)  # `docker stop`, without waiting for the end
    wait_for(lambda: "127.0.0.11:8000" not in world.upstream(), 2, message="left the upstream")
    assert first.proc is not None and first.proc.poll() is None, "still draining when it left"
    # nginx, reloaded, no longer sends it requests while its process still lives (draining).
    wait_for(lambda: world.served(20) == {"backend-2"}, 2, message="no request to backend-1")
    assert first.proc.poll() is None, "backend-1 stopped before nginx stopped using it"
    assert first.wait(20) == 0

    wait_for(lambda: world.served() == {"backend-2"}, 3, message="only backend-2")
    assert second.stop() == 0
    wait_for(lambda: world.get() == "HTTP 503", 3, message="503")
    assert world.master_pid() == master


def test_rolling_restart_under_load_loses_no_request(world: World) -> None:
    """Restarting 3 backends one by one under constant load, with proxy_next_upstream off,
    fails no request: each leaves Consul and drains before it stops."""
    world.nginx(NGINX_NEXT_UPSTREAM="off")
    backends = {n: world.backend(n) for n in (1, 2, 3)}
    wait_for(lambda: len(world.served(30)) == 3, 15, message="three backends")
    results = {"ok": 0, "failed": 0}
    failures: list[str] = []
    stop = threading.Event()

    def load() -> None:
        # A new connection per request: a kept-alive one can be closed by an nginx worker
        # retiring on reload just as a request goes out, a client-side race drain cannot cover.
        deadline = time.monotonic() + 120
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                answer = requests.get(
                    f"http://{NGINX}:{world.port}/",
                    timeout=scaled(3),
                    headers={"Connection": "close"},
                )
                ok = answer.status_code == 200
                reason = f"HTTP {answer.status_code}"
            except requests.RequestException as error:
                ok, reason = False, type(error).__name__
            results["ok" if ok else "failed"] += 1
            if not ok:
                failures.append(reason)

    thread = threading.Thread(target=load)
    thread.start()
    try:
        for n in (1, 2, 3):
            assert backends[n].stop() == 0
            backends[n] = world.backend(n)
            wait_for(lambda n=n: f"backend-{n}" in world.served(30), 10, message=f"{n} back")
    finally:
        stop.set()
        thread.join()
    assert results["ok"] > 100
    assert results["failed"] == 0, (results, failures)


def test_paused_backend_is_removed_and_returns(world: World) -> None:
    """A paused backend leaves the upstream once its TTL expires, and returns when resumed."""
    world.nginx()
    world.backend(1)
    paused = world.backend(2)
    wait_for(lambda: len(world.served(20)) == 2, 10, message="both served")
    paused.pause()
    # Its TTL (3 s) expires, the registry marks it critical, the upstream loses it.
    wait_for(lambda: world.upstream() == {"127.0.0.11:8000"}, 3 + 5, message="removed")
    wait_for(lambda: world.served() == {"backend-1"}, 5, message="traffic to backend-1 only")

    paused.resume()
    wait_for(lambda: "backend-2" in world.served(20), 5, message="back after resume")


def test_killed_nginx_master_is_restarted(world: World) -> None:
    """SIGKILL to nginx's master: pilot kills its workers, restarts it, and it binds again."""
    nginx = world.nginx()
    world.backend(1)
    wait_for(lambda: world.get() == "backend-1", 10, message="serving")
    master = world.master_pid()  # a pid inside the container's namespace
    nginx.exec("kill", "-KILL", str(master))

    wait_for(
        lambda: world.get() == "backend-1" and world.master_pid() != master,
        10,
        message="nginx back",
    )


def test_five_backends_at_once_converge_with_few_reloads(world: World) -> None:
    """Five backends started together converge to five upstream servers in few renders."""
    world.nginx()
    wait_for(lambda: world.get() == "HTTP 503", 10, message="nginx up")
    before = world.reloads()
    for n in range(1, 6):
        world.backend(n)
    wait_for(lambda: len(world.upstream()) == 5, 10, message="five upstream servers")
    wait_for(lambda: len(world.served(30)) == 5, 3, message="five backends served")
    renders = world.reloads() - before
    print(f"5 backends at once: {renders} renders (reloads)")
    # wait min 100 ms / max 1 s: changes closer than 100 ms share a render, a burst longer than
    # 1 s is cut once a second; five registrations landing within ~2 s give at most 3.
    assert 1 <= renders <= 3, f"{renders} renders for 5 backends started together"


def test_registry_outage_keeps_nginx_serving(world: World) -> None:
    """The registry down for longer than the health intervals and TTLs, then back empty on the
    same address: nginx keeps serving the last config throughout, registrations come back."""
    world.nginx()
    world.backend(1)
    world.backend(2)
    wait_for(lambda: world.served(20) == {"backend-1", "backend-2"}, 10, message="serving")
    before = world.reloads()
    world.registry.kill()
    # Down for 4 s (backend checks every 1 s with a 3 s TTL, nginx every 2 s): every request
    # made meanwhile is answered by the backends of the last config.
    outage_end, answers = time.monotonic() + 4, []
    while time.monotonic() < outage_end:
        answers.append(world.get())
    assert set(answers) == {"backend-1", "backend-2"}, set(answers)
    assert len(answers) > 20
    world.registry.restart()  # the process is already dead: starts an empty one, same address
    wait_for(
        lambda: len(world.passing("backend")) == 2 and world.passing("nginx") == [NGINX],
        8,
        message="registrations back",
    )
    assert world.served(20) == {"backend-1", "backend-2"}
    assert world.reloads() == before, "the outage or the empty registry reached the template"


def test_tls_from_base64_environment(world: World, tmp_path: Path) -> None:
    """Certificate and key from SSL_*_BASE64: https answers with that certificate."""
    cert, key = self_signed_certificate(tmp_path, NGINX)
    with socket.socket() as sock:
        sock.bind((NGINX, 0))
        tls_port = sock.getsockname()[1]
    world.nginx(
        SSL_CERT_BASE64=base64.b64encode(cert.read_bytes()).decode(),
        SSL_KEY_BASE64=base64.b64encode(key.read_bytes()).decode(),
        NGINX_TLS_LISTEN=f"{NGINX}:{tls_port}",
    )
    world.backend(1)

    def https() -> str | None:
        try:
            return requests.get(
                f"https://{NGINX}:{tls_port}/", verify=str(cert), timeout=scaled(3)
            ).text
        except requests.RequestException:
            return None

    wait_for(lambda: (https() or "").strip() == "backend-1", 10, message="https served")
    served = ssl.get_server_certificate((NGINX, tls_port))
    assert ssl.PEM_cert_to_DER_cert(served) == ssl.PEM_cert_to_DER_cert(cert.read_text())
    plain = requests.get(f"http://{NGINX}:{world.port}/", allow_redirects=False, timeout=scaled(3))
    assert plain.status_code == 301 and plain.headers["Location"].startswith("https://")


def test_sensor_pushes_connection_gauges(world: World) -> None:
    """The sensor job pushes nginx's active and waiting connections to the telemetry endpoint:
    an idle keep-alive connection held open shows up in both. Its first run, which races
    nginx's start, says so in a line, not a traceback."""
    nginx = world.nginx()
    wait_for(lambda: world.get() == "HTTP 503", 10, message="nginx up")

    def gauges() -> dict[str, float]:
        try:
            text = requests.get(f"http://{NGINX}:{world.port + 1}/metrics", timeout=scaled(3)).text
        except requests.RequestException:
            return {}
        return {
            line.split()[0]: float(line.split()[1])
            for line in text.splitlines()
            if line.startswith(("nginx_connections_active ", "nginx_connections_waiting "))
        }

    with requests.Session() as idle:  # one request, then the connection waits (keep-alive)
        assert idle.get(f"http://{NGINX}:{world.port}/", timeout=scaled(3)).status_code == 503
        pushed = wait_for(
            lambda: (
                (found := gauges()).get("nginx_connections_waiting", 0) >= 1
                and found.get("nginx_connections_active", 0) >= 2
                and found
            ),
            12,  # the sensor runs every 5 s
            message="nginx_connections_waiting >= 1 and _active >= 2 pushed",
        )
    print(f"sensor: {pushed}")
    assert "Traceback" not in nginx.log.read_text(errors="replace")


def test_a_render_nginx_rejects_is_not_applied(world: World) -> None:
    """An instance making the site invalid fails `nginx -t`: no reload, the old config serves."""
    nginx = world.nginx()
    world.backend(1)
    wait_for(lambda: world.get() == "backend-1", 10, message="serving")
    site = world.root / "nginx" / "nginx" / "site.conf"
    before, master = site.read_bytes(), world.master_pid()
    reloads = world.reloads()
    workers = wait_for(
        lambda: len(world.workers(nginx)) == 2 and world.workers(nginx), 5, message="2 workers"
    )
    world.registry.put(
        "/v1/agent/service/register",
        {"Name": "backend", "ID": "broken", "Address": "bad address;", "Port": 1},
    )
    log = world.root / "nginx" / "pilot.log"
    wait_for(lambda: "previous file restored" in log.read_text(), 5, message="check failed")
    assert site.read_bytes() == before and world.master_pid() == master
    assert world.reloads() == reloads, "a rejected render was applied"
    assert world.workers(nginx) == workers, "nginx was reloaded (new workers)"
    assert world.get() == "backend-1"


def test_ip_hash_and_websocket_switches(world: World) -> None:
    """NGINX_IP_HASH and NGINX_WEBSOCKETS render a site nginx accepts and serves."""
    world.nginx(NGINX_IP_HASH="1", NGINX_WEBSOCKETS="1")
    world.backend(1)
    wait_for(lambda: world.get() == "backend-1", 10, message="serving")
    site = (world.root / "nginx" / "nginx" / "site.conf").read_text()
    assert "ip_hash;" in site and "proxy_set_header Upgrade $http_upgrade;" in site


def test_static_paths_are_cached_and_prefixes_stripped(world: World) -> None:
    """/static/ of the default service and /<service>/static/ go through the proxy cache (a
    MISS, then HITs once the entry is written); /<service>/ reaches the backend without its
    prefix."""
    world.nginx()
    world.backend(1)
    wait_for(lambda: world.get() == "backend-1", 10, message="serving")

    def served(path: str) -> requests.Response | None:
        """The answer once the backend serves `path`: None for the rendered `return 503` (an
        nginx worker of the config from before the backend, still finishing the reload)."""
        answer = requests.get(f"http://{NGINX}:{world.port}{path}", timeout=scaled(3))
        return None if answer.status_code == 503 else answer

    def hit(path: str) -> requests.Response | None:
        """The answer if it came from the cache; MISS while nginx still writes the entry."""
        answer = served(path)
        if answer is None:
            return None
        status = answer.headers.get("X-Cache")
        assert answer.status_code == 200 and status in ("MISS", "HIT"), (path, answer, status)
        return answer if status == "HIT" else None

    for path, reached in (
        ("/static/app.css", "/static/app.css"),
        ("/backend/static/a.js", "/static/a.js"),
    ):
        first = wait_for(lambda p=path: served(p), 5, interval=0.05, message=f"{path} served")
        assert first.status_code == 200 and first.headers.get("X-Cache") == "MISS", path
        assert first.headers["X-Path"] == reached
        # nginx answers the MISS before its cache entry is on disk: the next GET may miss too.
        cached = wait_for(lambda p=path: hit(p), 5, interval=0.05, message=f"a HIT for {path}")
        assert cached.headers["X-Path"] == reached and cached.text.strip() == "backend-1"
    for path, reached in (("/page", "/page"), ("/backend/page", "/page")):
        answer = wait_for(lambda p=path: served(p), 5, interval=0.05, message=f"{path} served")
        assert answer.headers["X-Path"] == reached and "X-Cache" not in answer.headers, path
