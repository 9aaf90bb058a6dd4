"""pilot against a registry (consul-dev, or real Consul when one is given) over real HTTP:
registration, health, re-registration, watches, TLS."""

from __future__ import annotations

import contextlib
import itertools
import re
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    Pilot,
    Registry,
    holds,
    python_job,
    read_lines,
    scaled,
    self_signed_certificate,
    wait_for,
)

# A service that, on SIGTERM, writes how many instances of "web" the registry still lists.
WEB = python_job("""
    import json, os, signal, sys, time, urllib.request
    def on_term(signum, frame):
        url = os.environ["REGISTRY"] + "/v1/health/service/web"
        listed = len(json.load(urllib.request.urlopen(url)))
        open("at-sigterm", "w").write(str(listed))
        sys.exit(0)
    signal.signal(signal.SIGTERM, on_term)
    open("web.pid", "a").write(f"{os.getpid()} {os.environ.get('PILOT_WEB_IP')}\\n")
    while True:
        time.sleep(60)
""")


def web_config(registry: Registry, **extra: Any) -> dict[str, Any]:
    return {
        "consul": registry.address,
        "jobs": [
            {
                "name": "web",
                "exec": WEB,
                "port": 8080,
                "interfaces": ["static:127.0.0.1"],
                "tags": ["a", "b"],
                "meta": {"version": "7"},
                "health": {"exec": ["test", "-f", "healthy"], "interval": "500ms", "ttl": "30s"},
            }
        ],
        **extra,
    }


def check_status(registry: Registry, service: str = "web") -> str | None:
    entries = registry.instances(service)
    if not entries:
        return None
    checks = [c for c in entries[0]["Checks"] if c["ServiceID"]]
    return checks[0]["Status"] if checks else None


def test_registration_health_and_deregistration_order(
    pilot: Callable[..., Pilot], registry: Registry, tmp_path: Path
) -> None:
    """A job with a port is registered at once, follows its checks, leaves before its SIGTERM."""
    p = pilot(web_config(registry), env={"REGISTRY": registry.url})
    entries = wait_for(lambda: registry.instances("web"), 2, message="registration")
    service = entries[0]["Service"]
    assert (service["Address"], service["Port"]) == ("127.0.0.1", 8080)
    assert service["Tags"] == ["a", "b"] and service["Meta"] == {"version": "7"}
    assert service["ID"] == f"web-{socket.gethostname()}-8080"
    assert check_status(registry) == "critical"  # initial_status, and the check fails
    (tmp_path / "healthy").touch()
    wait_for(lambda: check_status(registry) == "passing", 2, message="passing")
    (tmp_path / "healthy").unlink()
    wait_for(lambda: check_status(registry) == "critical", 2, message="critical before the TTL")
    output = [c["Output"] for c in registry.instances("web")[0]["Checks"] if c["ServiceID"]]
    assert output and output[0] != "TTL expired"
    pid_line = wait_for(lambda: read_lines(tmp_path / "web.pid"), 5, message="web's pid file")
    assert pid_line[0].endswith(" 127.0.0.1")  # PILOT_WEB_IP
    p.signal(signal.SIGTERM)
    assert p.wait() == 0
    assert (tmp_path / "at-sigterm").read_text() == "0", "deregistered before the stop signal"


def test_a_job_over_for_good_leaves_consul_and_a_restart_brings_it_back(
    pilot: Callable[..., Pilot], registry: Registry, tmp_path: Path
) -> None:
    """A non-main job that exits with no restart left is deregistered, not left critical;
    `ctl start` registers it again."""
    side = {
        "name": "side",
        "exec": ["sh", "-c", "test -f stop && exit 3; sleep 600"],
        "port": 8081,
        "interfaces": ["static:127.0.0.1"],
        "restarts": "never",
        "health": {"exec": ["true"], "interval": "500ms"},
    }
    main = {"name": "main", "main": True, "exec": ["sleep", "600"]}
    p = pilot({"consul": registry.address, "jobs": [main, side]})
    wait_for(lambda: check_status(registry, "side") == "passing", 5, message="side passing")
    (tmp_path / "stop").touch()
    assert p.ctl("restart", "side").returncode == 0
    wait_for(lambda: registry.instances("side") == [], 5, message="side deregistered")
    (tmp_path / "stop").unlink()
    assert p.ctl("start", "side").returncode == 0
    wait_for(lambda: check_status(registry, "side") == "passing", 5, message="side back")


def test_registry_restart_brings_registrations_and_watches_back(
    pilot: Callable[..., Pilot], registry: Registry, tmp_path: Path
) -> None:
    """After the registry restarts empty, the service is re-registered, the job untouched,
    and watches see the new registry's data."""
    (tmp_path / "healthy").touch()
    config = web_config(registry, watches=[{"name": "other", "service": "other"}])
    config["logging"] = {"level": "debug"}  # a failure shows what the watch did
    config["jobs"][0]["main"] = True
    config["jobs"].append(
        {
            "name": "seen",
            "exec": ["sh", "-c", 'echo "$PILOT_WATCH_OTHER" >> other.log'],
            "when": {"source": "watch.other", "each": "changed"},
        }
    )
    p = pilot(config, env={"REGISTRY": registry.url})
    wait_for(lambda: check_status(registry) == "passing", 3, message="passing")
    pid_line = wait_for(lambda: read_lines(tmp_path / "web.pid"), 5, message="job up")
    wait_for(lambda: p.status()["watches"][0]["updates"] >= 1, 3, message="watch's first answer")
    registry.restart()
    restarted = time.monotonic()
    registry.put(
        "/v1/agent/service/register",
        {"Name": "other", "ID": "other-1", "Address": "127.0.0.9", "Port": 9000},
    )
    interval = 0.5
    wait_for(
        lambda: check_status(registry) == "passing",
        2 * interval + 1 - (time.monotonic() - restarted),
        message="re-registered and passing within 2 x interval + 1 s of the restart",
    )
    try:
        wait_for(
            lambda: "127.0.0.9:9000" in read_lines(tmp_path / "other.log"),
            2 - (time.monotonic() - restarted),
            message="watch sees the restarted registry within 2 s",
        )
    except AssertionError as error:
        # Known product race (issue 24): a registry that dies and is back between two long
        # polls gets the old registry's index, a "future" index it holds for the whole `wait`.
        raise AssertionError(f"{error}; watch {p.status()['watches']}\n{p.output}") from None
    assert read_lines(tmp_path / "web.pid") == pid_line, "the job was not restarted"
    assert p.output.count("web started") == 1


class GapProxy:
    """TCP between pilot and a registry that can hold what pilot sends, then hand it to
    another registry: a request sent in the gap between two long polls, while the registry
    died and came back, without any error on pilot's side (urllib3 reconnects silently)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.holding = threading.Event()
        self.released = threading.Event()
        self.held: list[str] = []  # the first line of each request held
        self.forwarded: list[str] = []  # the first line of each request passed on
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self._server.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _connect(self) -> socket.socket:
        host, port = self.upstream.rsplit(":", 1)
        return socket.create_connection((host, int(port)), timeout=scaled(5))

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream: list[socket.socket | None] = [None]

        def pump_back(sock: socket.socket) -> None:
            with contextlib.suppress(OSError):
                while data := sock.recv(65536):
                    client.sendall(data)
            if upstream[0] is sock:  # the registry closed: so does the connection to pilot
                with contextlib.suppress(OSError):
                    client.shutdown(socket.SHUT_RDWR)

        def forward(data: bytes) -> None:
            with self._lock:
                self.forwarded.append(first_line(data))
            if upstream[0] is None:
                upstream[0] = self._connect()
                threading.Thread(target=pump_back, args=(upstream[0],), daemon=True).start()
            upstream[0].sendall(data)

        with contextlib.suppress(OSError), client:
            while data := client.recv(65536):
                if self.holding.is_set():
                    stale, upstream[0] = upstream[0], None  # what comes next goes to the
                    if stale is not None:  # registry there is once released
                        stale.close()
                    with self._lock:
                        self.held.append(first_line(data))
                    self.released.wait()
                forward(data)

    def close(self) -> None:
        self._server.close()


def first_line(data: bytes) -> str:
    return data.split(b"\r\n", 1)[0].decode("latin-1")


def long_poll_of(lines: list[str], service: str) -> bool:
    """Whether one of these request lines is a blocking query on `service`."""
    return any(
        line.startswith(f"GET /v1/health/service/{service}?") and "index=" in line for line in lines
    )


def parked(proxy: GapProxy, service: str) -> bool:
    """Whether the last query on `service` through `proxy` is a long poll that no other query
    follows for half a second (it waits for a change)."""
    prefix = f"GET /v1/health/service/{service}?"

    def queries() -> list[str]:
        return [line for line in proxy.forwarded if line.startswith(prefix)]

    sent = queries()
    if not long_poll_of(sent[-1:], service):
        return False
    try:
        holds(lambda: len(queries()) == len(sent), 0.5)
    except AssertionError:
        return False
    return True


@pytest.mark.slow
def test_a_watch_resumed_on_a_restarted_registry_sees_its_data(
    pilot: Callable[..., Pilot], registry: Registry, tmp_path: Path
) -> None:
    """A registry that dies and comes back between two long polls of a watch (no error seen)
    is still seen within 2 s, as when the restart interrupts a long poll."""
    for n in range(40):  # the first registry's index runs well ahead of the second's
        registry.put(f"/v1/kv/filler/{n}", "x")
    proxy = GapProxy(registry.address)
    (tmp_path / "healthy").touch()
    config = web_config(registry, watches=[{"name": "other", "service": "other"}])
    config["consul"] = proxy.address
    config["logging"] = {"level": "debug"}
    config["jobs"][0]["main"] = True
    p = pilot(config, env={"REGISTRY": registry.url})
    wait_for(lambda: check_status(registry) == "passing", 5, message="passing")
    wait_for(lambda: watch_status(p, "other")["updates"] >= 1, 5, message="first answer")
    # The registration and the first check reports may answer a long poll or two: the watch is
    # settled once its long poll stays unanswered.
    wait_for(lambda: parked(proxy, "other"), 10, message=f"a long poll parked\n{proxy.forwarded}")
    updates = watch_status(p, "other")["updates"]
    proxy.holding.set()  # from now on what pilot sends waits...
    registry.put(
        "/v1/agent/service/register",
        {"Name": "other", "ID": "other-0", "Address": "127.0.0.8", "Port": 9000},
    )
    # ...so the watch's next long poll, sent after this answer, waits in the proxy.
    wait_for(lambda: watch_status(p, "other")["updates"] == updates + 1, 5, message="second answer")
    wait_for(lambda: long_poll_of(proxy.held, "other"), 5, message="the next long poll held")
    second = Registry()
    try:
        registry.kill()
        second.put(
            "/v1/agent/service/register",
            {"Name": "other", "ID": "other-1", "Address": "127.0.0.9", "Port": 9000},
        )
        proxy.upstream = second.address
        restarted = time.monotonic()
        proxy.released.set()
        try:
            wait_for(
                lambda: watch_status(p, "other")["updates"] >= updates + 2,
                2 - (time.monotonic() - restarted),
                message="watch sees the restarted registry within 2 s",
            )
        except AssertionError as error:
            raise AssertionError(f"{error}; watch {watch_status(p, 'other')}\n{p.output}") from None
    finally:
        proxy.close()
        second.stop()


def watch_events(p: Pilot, name: str) -> list[str]:
    return re.findall(rf"event watch\.{name}\.(\w+)", p.output)


def watch_status(p: Pilot, name: str) -> dict[str, Any]:
    return next(w for w in p.status()["watches"] if w["name"] == name)


def test_watch_events_follow_the_registry(pilot: Callable[..., Pilot], registry: Registry) -> None:
    """A new instance is seen at once (blocking query), unrelated services cause no event,
    and 100 flaps give alternating health events that end in the right state."""
    config = {
        "consul": registry.address,
        "logging": {"level": "debug"},
        "watches": [
            {"name": "app", "service": "app", "wait": "30s", "passing": False},
            {"name": "marker", "service": "marker", "wait": "30s"},
        ],
        "jobs": [{"name": "idle", "exec": ["sleep", "300"]}],
    }
    p = pilot(config)
    markers = itertools.count(1)

    def all_logged() -> None:
        """Every event pilot logged so far is in p.output: a marker event logged after them
        has been read."""
        n = next(markers)
        registry.put("/v1/agent/service/register", {"Name": "marker", "ID": f"m-{n}", "Port": n})
        wait_for(
            lambda: watch_events(p, "marker").count("changed") == n + 1,
            3,
            message=f"marker {n} seen\n{p.output}",
        )

    wait_for(lambda: watch_events(p, "app") == ["changed", "unhealthy"], 3, message="first answer")
    wait_for(lambda: watch_events(p, "marker"), 3, message="marker's first answer")
    registry.put("/v1/agent/service/register", {"Name": "app", "ID": "app-1", "Port": 1})
    wait_for(
        lambda: watch_events(p, "app")[2:] == ["changed", "healthy"], 1, message="new instance"
    )
    # An unrelated write, known to the registry before app-2 is: any event it caused would be
    # logged before app-2's.
    registry.put("/v1/agent/service/register", {"Name": "unrelated", "ID": "u-1", "Port": 2})
    wait_for(lambda: registry.instances("unrelated"), 2, message="unrelated registered")
    registry.put("/v1/agent/service/register", {"Name": "app", "ID": "app-2", "Port": 3})
    wait_for(lambda: watch_status(p, "app")["instances"] == 2, 2, message="second instance")
    all_logged()
    assert watch_events(p, "app") == ["changed", "unhealthy", "changed", "healthy", "changed"]

    registry.put("/v1/agent/service/deregister/app-2")
    for _ in range(100):
        registry.put("/v1/agent/service/deregister/app-1")
        registry.put("/v1/agent/service/register", {"Name": "app", "ID": "app-1", "Port": 1})
    registry.put("/v1/agent/service/deregister/app-1")
    # The final state, which no flap goes through: two instances, both critical.
    for n in (4, 5):
        registry.put(
            "/v1/agent/service/register",
            {"Name": "app", "ID": f"app-{n}", "Port": n, "Check": {"TTL": "600s"}},
        )
    assert [
        c["Status"] for e in registry.instances("app") for c in e["Checks"] if c["ServiceID"]
    ] == [
        "critical",
        "critical",
    ]
    wait_for(lambda: watch_status(p, "app")["instances"] == 2, 5, message="final state seen")
    assert watch_status(p, "app")["healthy"] is False
    all_logged()
    events = watch_events(p, "app")
    health = [code for code in events if code != "changed"]
    assert all(a != b for a, b in itertools.pairwise(health)), health
    assert health[-1] == "unhealthy", events
    assert events[-1] in ("changed", "unhealthy") and "changed" in events[-2:], events[-6:]


def test_kv_watches_on_key_and_prefix(pilot: Callable[..., Pilot], registry: Registry) -> None:
    """Watches on a key and on a prefix emit changed when values change, not otherwise."""
    config = {
        "consul": registry.address,
        "logging": {"level": "debug"},
        "watches": [{"name": "flag", "key": "app/flag"}, {"name": "conf", "prefix": "app/conf/"}],
        "jobs": [{"name": "idle", "exec": ["sleep", "300"]}],
    }
    p = pilot(config)
    wait_for(
        lambda: watch_events(p, "flag") and watch_events(p, "conf"), 3, message="first answers"
    )
    registry.put("/v1/kv/app/flag", "on")
    wait_for(lambda: len(watch_events(p, "flag")) == 2, 2, message="key changed")
    registry.put("/v1/kv/app/conf/a", "1")
    registry.put("/v1/kv/app/conf/b", "2")
    wait_for(lambda: len(watch_events(p, "conf")) >= 2, 2, message="prefix changed")
    registry.put("/v1/kv/app/other", "x")
    registry.put("/v1/kv/app/flag", "off")
    wait_for(lambda: len(watch_events(p, "flag")) == 3, 2, message="key changed again")
    assert len(watch_events(p, "conf")) <= 3


@pytest.fixture
def tls_proxy(registry: Registry, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A TLS endpoint with a self-signed certificate in front of the registry."""
    cert, key = self_signed_certificate(tmp_path, "127.0.0.1")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    host, port = registry.address.split(":")

    def pipe(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            target.close()

    def serve() -> None:
        while True:
            try:
                raw, _ = listener.accept()
                client = context.wrap_socket(raw, server_side=True)
            except OSError:
                if listener.fileno() == -1:
                    return
                continue
            try:
                upstream = socket.create_connection((host, int(port)))
            except OSError:  # the registry is already gone (teardown)
                client.close()
                continue
            threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
            threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield f"https://127.0.0.1:{listener.getsockname()[1]}", cert
    listener.close()


def test_tls_verification_is_on_by_default(
    pilot: Callable[..., Pilot], registry: Registry, tls_proxy: tuple[str, Path], tmp_path: Path
) -> None:
    """A self-signed agent is refused unless its CA is given; with ca_file pilot registers."""
    address, cert = tls_proxy
    (tmp_path / "healthy").touch()
    refused = pilot({**web_config(registry), "consul": address}, env={"REGISTRY": registry.url})
    refused.wait_for_output("CERTIFICATE_VERIFY_FAILED|certificate verify failed", 5)
    assert registry.instances("web") == []
    refused.stop()
    trusted = {
        **web_config(registry),
        "consul": {"address": address, "tls": {"ca_file": str(cert)}},
    }
    pilot(trusted, env={"REGISTRY": registry.url})
    wait_for(lambda: registry.instances("web"), 3, message="registered over TLS")


def test_embedded_registry_serves_this_pilot_and_others(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    """consul: embedded runs the registry inside pilot; its own job is registered there."""
    import requests

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        listen = f"127.0.0.1:{sock.getsockname()[1]}"
    (tmp_path / "healthy").touch()
    from types import SimpleNamespace
    from typing import cast

    config = web_config(cast(Registry, SimpleNamespace(address=listen)))

    config["consul"] = {"address": "embedded", "listen": listen}
    pilot(config, env={"REGISTRY": f"http://{listen}"})

    def passing() -> bool:
        try:
            entries = requests.get(
                f"http://{listen}/v1/health/service/web?passing", timeout=scaled(2)
            )
        except requests.RequestException:
            return False
        return entries.ok and len(entries.json()) == 1

    wait_for(passing, 5, message="registered in the embedded registry")


def test_maintenance_on_and_off(
    pilot: Callable[..., Pilot], registry: Registry, tmp_path: Path
) -> None:
    """ctl maintenance puts the service in Consul maintenance mode and takes it out again."""
    (tmp_path / "healthy").touch()
    p = pilot(web_config(registry), env={"REGISTRY": registry.url})
    wait_for(lambda: check_status(registry) == "passing", 3, message="passing")
    assert p.ctl("maintenance", "on", "--reason", "upgrading").returncode == 0

    def maintenance_note() -> str | None:
        checks = registry.get("/v1/agent/checks")
        check = checks.get(f"_service_maintenance:web-{socket.gethostname()}-8080")
        return check["Notes"] if check else None

    wait_for(lambda: maintenance_note() == "upgrading", 3, message="maintenance in Consul")
    assert registry.instances("web", passing=True) == []
    assert p.status()["maintenance"] is True
    assert p.ctl("maintenance", "off").returncode == 0
    wait_for(lambda: maintenance_note() is None, 3, message="maintenance lifted")
    wait_for(lambda: registry.instances("web", passing=True), 3, message="passing again")
    assert p.status()["maintenance"] is False


def test_render_once_dry_run(registry: Registry, tmp_path: Path) -> None:
    """pilot render --dry-run prints each template rendered from the live registry."""
    import os

    from tests.helpers import PYTHON, REPO

    registry.put(
        "/v1/agent/service/register",
        {"Name": "app", "ID": "app-1", "Address": "10.0.0.5", "Port": 81},
    )
    template = "{% for i in service('app') %}server {{ i.address }}:{{ i.port }};{% endfor %}\n"
    (tmp_path / "up.j2").write_text(template)
    (tmp_path / "pilot.json5").write_text(
        f'{{consul: "{registry.address}", jobs: [{{name: "x", exec: "true"}}], '
        f'templates: [{{source: "up.j2", dest: "{tmp_path / "up.conf"}"}}]}}'
    )
    result = subprocess.run(
        [PYTHON, "-m", "pilot", "render", "-c", "pilot.json5", "--dry-run"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=scaled(30),
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"> {tmp_path / 'up.conf'}\nserver 10.0.0.5:81;\n"
    assert not (tmp_path / "up.conf").exists()
    written = subprocess.run(
        [PYTHON, "-m", "pilot", "render", "-c", "pilot.json5"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=scaled(30),
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert written.returncode == 0
    assert (tmp_path / "up.conf").read_text() == "server 10.0.0.5:81;\n"
