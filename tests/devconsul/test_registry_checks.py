"""Checks the registry runs itself (HTTP and TCP, every interval) and the reaper of
services critical past DeregisterCriticalServiceAfter."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from consul import Check

from pilot.devconsul.server import DevConsul
from tests.devconsul.conftest import Api
from tests.helpers import scaled, wait_for


class Target:
    """An HTTP server answering with `code` and `body`; while `stalled`, it holds each
    request (until `release` is set) before answering."""

    def __init__(self) -> None:
        self.code, self.body, self.hits = 200, b"fine", 0
        self.stalled = False
        self.release = threading.Event()
        target = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                target.hits += 1
                if target.stalled:
                    target.release.wait(scaled(10))
                self.send_response(target.code)
                self.send_header("Content-Length", str(len(target.body)))
                self.end_headers()
                self.wfile.write(target.body)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/health"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def target() -> Iterator[Target]:
    served = Target()
    yield served
    served.close()


def _check(api: Api, check_id: str) -> dict[str, Any]:
    return dict(api.get("/v1/agent/checks").json()[check_id])


def test_http_check_follows_its_target(api: Api, target: Target) -> None:
    """An HTTP check passes on 2xx, warns on 429, is critical otherwise, with Consul's
    output "HTTP GET <url>: <status> Output: <body>"; intervals below 1 s run at 1 s."""
    api.register({"Name": "h", "ID": "h1", "Check": {"HTTP": target.url, "Interval": "100ms"}})
    check = _check(api, "service:h1")
    assert (check["Type"], check["Interval"], check["Status"]) == ("http", "100ms", "critical")
    wait_for(lambda: _check(api, "service:h1")["Status"] == "passing", 3, message="passing")
    assert _check(api, "service:h1")["Output"] == f"HTTP GET {target.url}: 200 OK Output: fine"
    target.code, target.body = 429, b"slow down"
    wait_for(lambda: _check(api, "service:h1")["Status"] == "warning", 3, message="warning")
    target.code, target.body = 503, b"down"
    wait_for(lambda: _check(api, "service:h1")["Status"] == "critical", 3, message="critical")
    output = _check(api, "service:h1")["Output"]
    assert output == f"HTTP GET {target.url}: 503 Service Unavailable Output: down"


def test_tcp_check_follows_its_target(api: Api) -> None:
    """A TCP check passes while the port accepts connections and is critical once closed."""
    listener = socket.create_server(("127.0.0.1", 0))
    address = f"127.0.0.1:{listener.getsockname()[1]}"
    try:
        api.register({"Name": "t", "ID": "t1", "Check": {"TCP": address, "Interval": "1s"}})
        wait_for(lambda: _check(api, "service:t1")["Status"] == "passing", 3, message="passing")
        assert _check(api, "service:t1")["Output"] == f"TCP connect {address}: Success"
    finally:
        listener.close()
    wait_for(lambda: _check(api, "service:t1")["Status"] == "critical", 3, message="critical")
    assert _check(api, "service:t1")["Output"] == f"dial tcp {address}: connect: connection refused"


def test_failures_before_critical(api: Api, target: Target) -> None:
    """FailuresBeforeCritical holds the status until that many runs have failed in a row."""
    api.register(
        {
            "Name": "f",
            "ID": "f1",
            "Check": {
                "HTTP": target.url,
                "Interval": "1s",
                "Status": "passing",
                "FailuresBeforeCritical": 2,
            },
        }
    )
    target.code = 500
    wait_for(lambda: target.hits == 1, 3, message="the first failed run")
    assert _check(api, "service:f1")["Status"] == "passing", "one failure is not enough"
    wait_for(lambda: _check(api, "service:f1")["Status"] == "critical", 3, message="critical")
    assert target.hits >= 2
    assert "500 Internal Server Error" in _check(api, "service:f1")["Output"]


REAPED = {
    "Name": "gone",
    "ID": "g1",
    "Check": {"TTL": "200ms", "Status": "passing", "DeregisterCriticalServiceAfter": "10ms"},
}


def _debug_config(api: Api) -> tuple[str, str]:
    debug = api.get("/v1/agent/self").json()["DebugConfig"]
    return debug["CheckDeregisterIntervalMin"], debug["CheckReapInterval"]


def test_deregister_critical_service_after(api: Api) -> None:
    """A service whose check stays critical past DeregisterCriticalServiceAfter is reaped,
    but not before the minimum (the fast reaper's 1 s, checked every half second, as
    /v1/agent/self reports), however small the asked-for 10 ms."""
    assert _debug_config(api) == ("1s", "500ms")
    registered = time.monotonic()
    api.register(REAPED)
    critical = wait_for(
        lambda: _check(api, "service:g1")["Status"] == "critical" and time.monotonic(),
        3,
        message="TTL expiry",
    )
    reaped = wait_for(
        lambda: "g1" not in api.get("/v1/agent/services").json() and time.monotonic(),
        4,
        message="reaped",
    )
    # critical at the earliest 200 ms after registration, then the 1 s minimum
    assert reaped - registered >= 0.2 + 1.0 - 0.05, "reaped before the 1 s minimum"
    assert reaped - critical >= 1.0 - 0.1, "reaped before the 1 s minimum"
    assert reaped - critical <= 1.0 + scaled(0.5 + 1.0), "not reaped by the next reaper runs"
    assert api.get("/v1/health/service/gone").json() == []


def test_default_reaper_keeps_consuls_minute_and_half_minute() -> None:
    """Without the fast reaper (the default, as `pilot consul-dev` without
    --dev-fast-reaper), the agent reports Consul's check_deregister_interval_min of 1m and
    check_reap_interval of 30s, and a service critical past a 10 ms
    DeregisterCriticalServiceAfter outlives the 2 s that the fast reaper would give it."""
    registry = DevConsul("127.0.0.1:0", node="node1")
    registry.start()
    try:
        api = Api(registry)
        assert _debug_config(api) == ("1m0s", "30s")
        api.register(REAPED)
        wait_for(lambda: _check(api, "service:g1")["Status"] == "critical", 3, message="TTL expiry")
        index = api.index("/v1/catalog/service/gone")
        watch = api.watch("/v1/catalog/service/gone", index=index, wait="2s")
        assert watch.wait(5) and watch.response is not None
        assert watch.elapsed >= 2, "the service's catalog entry changed: reaped"
        assert [s["ServiceID"] for s in watch.response.json()] == ["g1"]
        assert "g1" in api.get("/v1/agent/services").json()
    finally:
        registry.stop()


def test_critical_from_registration_is_not_reaped(api: Api) -> None:
    """The reaper counts from the first critical update, as Consul's agent does: a check
    registered critical that never reported is not reaped by itself."""
    api.register(
        {
            "Name": "kept",
            "ID": "k1",
            "Check": {"TTL": "1h", "DeregisterCriticalServiceAfter": "1ms"},
        }
    )
    other = {
        "Name": "gone",
        "ID": "g1",
        "Check": {"TTL": "100ms", "DeregisterCriticalServiceAfter": "1ms"},
    }
    api.register(other)
    wait_for(
        lambda: "g1" not in api.get("/v1/agent/services").json(),
        4,
        message="the expired one reaped",
    )
    assert "k1" in api.get("/v1/agent/services").json()


def test_http_check_slower_than_its_timeout_is_critical(client: Any, target: Target) -> None:
    """A target that does not answer within the check's Timeout turns the check critical
    with Go's client timeout text, as Consul reports it; it passes again once the target
    answers in time."""
    target.stalled = True
    check = {**Check.http(target.url, "1s", timeout="300ms"), "Status": "passing"}
    assert client.agent.service.register("slow", service_id="s1", check=check)
    listed = client.agent.checks()["service:s1"]
    assert (listed["Type"], listed["Interval"], listed["Timeout"]) == ("http", "1s", "300ms")
    # within the first run (at most 1 s away) plus 300 ms; the default 10 s timeout would not be
    wait_for(
        lambda: client.agent.checks()["service:s1"]["Status"] == "critical",
        3,
        message="critical after the timeout",
    )
    assert client.agent.checks()["service:s1"]["Output"] == (
        f'Get "{target.url}": context deadline exceeded '
        "(Client.Timeout exceeded while awaiting headers)"
    )
    target.stalled = False
    target.release.set()
    wait_for(
        lambda: client.agent.checks()["service:s1"]["Status"] == "passing", 3, message="passing"
    )


def test_tcp_check_slower_than_its_timeout_is_critical(api: Api) -> None:
    """A port whose connections never complete (a listener with a full accept queue drops
    the SYNs) turns a TCP check critical after its Timeout with Go's dial timeout text."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    address = f"127.0.0.1:{listener.getsockname()[1]}"
    queued: list[socket.socket] = []

    def connect_hangs() -> bool:
        try:
            queued.append(socket.create_connection(listener.getsockname(), timeout=scaled(0.2)))
        except TimeoutError:
            return True
        return False

    try:
        wait_for(connect_hangs, 5, interval=0, message="a listener that leaves connects hanging")
        check = {"TCP": address, "Interval": "1s", "Timeout": "300ms", "Status": "passing"}
        api.register({"Name": "t", "ID": "t1", "Check": check})
        assert _check(api, "service:t1")["Timeout"] == "300ms"
        wait_for(
            lambda: _check(api, "service:t1")["Status"] == "critical",
            3,
            message="critical after the timeout",
        )
        assert _check(api, "service:t1")["Output"] == f"dial tcp {address}: i/o timeout"
    finally:
        for connection in queued:
            connection.close()
        listener.close()


def test_http_check_with_a_stalled_body_keeps_the_answers_status() -> None:
    """Status and headers in time, then the body stalls: as Consul (which only logs the body
    read error), the check takes the answer's code, with the part of the body it read, and
    gives up at the Timeout for the whole exchange."""
    from pilot.devconsul.checks.definitions import CheckSpec
    from pilot.devconsul.checks.probes import http_probe
    from pilot.devconsul.go.durations import SECOND

    release = threading.Event()

    class Stalling(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "10")
            self.end_headers()
            self.wfile.write(b"part")
            self.wfile.flush()
            release.wait(scaled(10))

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stalling)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/health"
    try:
        started = time.monotonic()
        status, output = http_probe(
            CheckSpec(check_id="c", name="c", kind="http", http=url, timeout=int(0.3 * SECOND))
        )
        took = time.monotonic() - started
    finally:
        release.set()
        server.shutdown()
        server.server_close()
    assert (status, output) == ("passing", f"HTTP GET {url}: 200 OK Output: part")
    assert 0.25 < took < 0.3 + scaled(1.2), (
        f"the body was read for {took:.2f}s against a 300 ms Timeout"
    )
