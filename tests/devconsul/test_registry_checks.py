"""Checks the registry runs itself (HTTP and TCP, every interval) and the reaper of
services critical past DeregisterCriticalServiceAfter."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.devconsul.conftest import Api
from tests.helpers import wait_for


class Target:
    """An HTTP server answering with `code` and `body`."""

    def __init__(self) -> None:
        self.code, self.body, self.hits = 200, b"fine", 0
        target = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                target.hits += 1
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


def test_deregister_critical_service_after(api: Api) -> None:
    """A service whose check stays critical past DeregisterCriticalServiceAfter is reaped
    (with the fast reaper: a 1 s minimum, checked every half second)."""
    api.register(
        {
            "Name": "gone",
            "ID": "g1",
            "Check": {
                "TTL": "200ms",
                "Status": "passing",
                "DeregisterCriticalServiceAfter": "10ms",
            },
        }
    )
    wait_for(lambda: _check(api, "service:g1")["Status"] == "critical", 3, message="TTL expiry")
    wait_for(lambda: "g1" not in api.get("/v1/agent/services").json(), 4, message="reaped")
    assert api.get("/v1/health/service/gone").json() == []


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
