"""pilot's Consul calls (pilot.consul.api) send what py-consul 1.8 sent for the same calls
(pilot used py-consul until it had its own client): the same method, path, query in the same
order, JSON body and token header. Both talk to one recording server over real sockets."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import threading
from collections.abc import Awaitable, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from pilot.consul.api import ConsulAPI
from pilot.consul.calls import ConsulCalls
from pilot.consul.client import ConsulTarget
from pilot.log import Log

consul = pytest.importorskip("consul")  # the test extra has it

TOKEN, DC = "wire-token", "dc7"
Seen = tuple[str, str, Any, str | None]  # method, target, body (JSON when it is), token


class Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[Seen]

    def do_GET(self) -> None:
        self._answer()

    def do_PUT(self) -> None:
        self._answer()

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode()
        self.seen.append((self.command, self.path, body, self.headers.get("X-Consul-Token")))
        path = self.path.split("?")[0]
        answer: Any = True
        if path == "/v1/session/create":
            answer = {"ID": "session-1"}
        elif path.startswith("/v1/kv/") and self.command == "GET":
            value = base64.b64encode(b"10.0.0.1:6379").decode()
            answer = [{"Key": path[7:], "Value": value, "Session": "session-1"}]
        elif path.startswith("/v1/health/service/"):
            answer = [{"Service": {"ID": "db-1"}}]
        elif path == "/v1/catalog/services":
            answer = {"db": ["v1"]}
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Consul-Index", "42")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[int, list[Seen]]]:
    seen: list[Seen] = []
    handler = type("Handler", (Recorder,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], seen
    server.shutdown()
    server.server_close()


CHECK = {
    "CheckID": "service:web-1",
    "Name": "web health (pilot)",
    "TTL": "15s",
    "Status": "critical",
}
SERVICE = {"ID": "remote:n1:db-1", "Service": "db", "Address": "10.0.0.9", "Port": 5432}
REMOTE_CHECK = {"CheckID": "remote:n1:db-1:check", "Status": "passing", "ServiceID": "x"}

# (what pilot calls, what it called through py-consul before)
CALLS: list[tuple[Callable[[ConsulAPI], Awaitable[Any]], Callable[[Any], Any]]] = [
    (
        lambda a: a.register_service(
            "web", "web-1", "10.0.0.1", 8080, ("v2",), {"k": "v"}, True, CHECK
        ),
        lambda c: c.agent.service.register(
            "web",
            service_id="web-1",
            address="10.0.0.1",
            port=8080,
            tags=["v2"],
            meta={"k": "v"},
            enable_tag_override=True,
            check=CHECK,
        ),
    ),
    (
        lambda a: a.register_service("web", "web-1", "", 0, (), {}, False, CHECK),
        lambda c: c.agent.service.register(
            "web", service_id="web-1", address="", port=0, tags=[], meta={}, check=CHECK
        ),
    ),
    (
        lambda a: a.deregister_service("web-1"),
        lambda c: c.agent.service.deregister("web-1"),
    ),
    (
        lambda a: a.service_maintenance("web-1", "upgrading now"),
        lambda c: c.agent.service.maintenance("web-1", "true", "upgrading now"),
    ),
    (
        lambda a: a.service_maintenance("web-1", None),
        lambda c: c.agent.service.maintenance("web-1", "false", None),
    ),
    (
        lambda a: a.update_check("service:web-1", "passing", "HTTP GET /: 200 OK"),
        lambda c: c.http.put(
            consul.callback.CB.boolean(),
            "/v1/agent/check/update/service:web-1",
            headers=c.prepare_headers(None),
            data=json.dumps({"Status": "passing", "Output": "HTTP GET /: 200 OK"}),
        ),
    ),
    (
        lambda a: a.health_service("db", 0, 60, True, ("v1", "eu"), None),
        lambda c: c.health.service("db", index=None, wait="60s", passing=True, tag=["v1", "eu"]),
    ),
    (
        lambda a: a.health_service("db", 41, 2.5, False, (), "dc9"),
        lambda c: c.health.service("db", index=41, wait="2.5s", passing=None, tag=None, dc="dc9"),
    ),
    (
        lambda a: a.catalog_services(41, 60),
        lambda c: c.catalog.services(index=41, wait="60s", dc=None),
    ),
    (
        lambda a: a.kv_get("service/redis/primary"),
        lambda c: c.kv.get("service/redis/primary"),
    ),
    (
        lambda a: a.kv_get("app/flags/", 41, 60, recurse=True, dc="dc9"),
        lambda c: c.kv.get("app/flags/", index=41, wait="60s", recurse=True, dc="dc9"),
    ),
    (
        lambda a: a.kv_put("service/redis/primary", "10.0.0.1:6379", acquire="session-1"),
        lambda c: c.kv.put("service/redis/primary", "10.0.0.1:6379", acquire="session-1"),
    ),
    (
        lambda a: a.kv_put("service/redis/primary", "10.0.0.1:6379", release="session-1"),
        lambda c: c.kv.put("service/redis/primary", "10.0.0.1:6379", release="session-1"),
    ),
    (
        lambda a: a.session_create("pilot redis", 10.0, 1.0),
        lambda c: c.session.create(
            name="pilot redis", behavior="release", ttl=10.0, lock_delay=1.0
        ),
    ),
    (
        lambda a: a.session_create("pilot redis", 12.5, 15.0),
        lambda c: c.session.create(
            name="pilot redis", behavior="release", ttl=12.5, lock_delay=15.0
        ),
    ),
    (
        lambda a: a.session_renew("session-1"),
        lambda c: c.session.renew("session-1"),
    ),
    (
        lambda a: a.session_destroy("session-1"),
        lambda c: c.session.destroy("session-1"),
    ),
    (
        lambda a: a.catalog_register("remote", "10.0.0.9", SERVICE, REMOTE_CHECK),
        lambda c: c.catalog.register("remote", "10.0.0.9", service=SERVICE, check=REMOTE_CHECK),
    ),
    (
        lambda a: a.catalog_deregister("remote", "remote:n1:db-1"),
        lambda c: c.catalog.deregister("remote", service_id="remote:n1:db-1"),
    ),
]


def without_token_parameter(seen: Seen) -> Seen:
    """py-consul also put the token in catalog/register's query; pilot sends it in the header
    (and the body's WriteRequest) only: a URL ends up in proxies' logs."""
    method, target, body, token = seen
    return method, target.replace(f"&token={TOKEN}", "").replace(f"?token={TOKEN}", ""), body, token


@pytest.mark.parametrize("index", range(len(CALLS)))
def test_pilot_sends_what_py_consul_sent(recorder: tuple[int, list[Seen]], index: int) -> None:
    port, seen = recorder
    ours, theirs = CALLS[index]
    client = consul.Consul(host="127.0.0.1", port=port, token=TOKEN, dc=DC)
    client.token = TOKEN  # py-consul prefers CONSUL_HTTP_TOKEN, were it set
    expected = theirs(client)

    async def call() -> Any:
        calls = ConsulCalls(
            ConsulTarget("127.0.0.1", port, "http", TOKEN, DC), Log(stderr=io.StringIO())
        )
        try:
            return await ours(ConsulAPI(calls))
        finally:
            await calls.close()

    got = asyncio.run(call())
    assert len(seen) == 2
    assert seen[1] == without_token_parameter(seen[0])
    assert got == (
        (int(expected[0]), expected[1]) if isinstance(expected, tuple) else expected
    ) or (got is None and expected is True)
