"""KV, sessions and locks in consul-dev, through py-consul and raw HTTP."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from typing import Any

import pytest
import requests

from tests.helpers import wait_for


def test_kv_basics(client: Any, url: str) -> None:
    """put/get with flags, recurse, keys with separator, raw, delete, and a 404 with an index."""
    assert client.kv.put("app/a", "1", flags=7)
    assert client.kv.put("app/b/c", b"2")
    index, item = client.kv.get("app/a")
    assert item["Value"] == b"1" and item["Flags"] == 7 and int(index) > 0
    assert [i["Key"] for i in client.kv.get("app/", recurse=True)[1]] == ["app/a", "app/b/c"]
    assert client.kv.get("app/", keys=True, separator="/")[1] == ["app/a", "app/b/"]
    assert requests.get(f"{url}/v1/kv/app/a?raw", timeout=5).content == b"1"
    missing = requests.get(f"{url}/v1/kv/nope", timeout=5)
    assert missing.status_code == 404 and int(missing.headers["X-Consul-Index"]) > 0
    assert client.kv.delete("app/", recurse=True)
    assert client.kv.get("app/a")[1] is None
    assert client.kv.put("empty", None) and client.kv.get("empty")[1]["Value"] is None


def test_cas(client: Any) -> None:
    """cas=0 creates only; cas=<ModifyIndex> replaces only that version."""
    assert client.kv.put("k", "v1", cas=0)
    assert not client.kv.put("k", "v2", cas=0)
    modify = client.kv.get("k")[1]["ModifyIndex"]
    assert client.kv.put("k", "v2", cas=modify)
    assert not client.kv.put("k", "v3", cas=modify)


def test_blocking_get_on_a_missing_key_waits_until_created(client: Any, url: str) -> None:
    """A blocking GET on an absent key returns when the key is created."""
    index = int(requests.get(f"{url}/v1/kv/later", timeout=5).headers["X-Consul-Index"])
    found: dict[str, Any] = {}

    def watch() -> None:
        found["item"] = client.kv.get("later", index=index, wait="5s")[1]

    thread = threading.Thread(target=watch)
    thread.start()
    thread.join(0.3)
    assert "item" not in found
    client.kv.put("later", "now")
    thread.join(2)
    assert found["item"]["Value"] == b"now"


def test_lock_semantics(client: Any, url: str) -> None:
    """Two sessions contend; the holder keeps the lock through plain PUTs; release by others
    fails; destroying the holder frees the key after its lock delay."""
    first = client.session.create(ttl=10, lock_delay=1)
    second = client.session.create(ttl=10, lock_delay=1)
    assert client.kv.put("lock", "first", acquire=first)
    assert not client.kv.put("lock", "second", acquire=second)
    assert client.kv.put("lock", "plain")
    assert client.kv.get("lock")[1]["Session"] == first
    assert not client.kv.put("lock", "x", release=second)
    client.session.destroy(first)
    item = client.kv.get("lock")[1]
    assert "Session" not in item
    assert not client.kv.put("lock", "second", acquire=second), "lock delay refuses"
    wait_for(
        lambda: client.kv.put("lock", "second", acquire=second),
        3,
        interval=0.1,
        message="acquired after the lock delay",
    )
    assert client.kv.get("lock")[1]["LockIndex"] == 2


def test_kv_errors(url: str) -> None:
    """Conflicting flags are a 400; an unknown session in acquire is a 500 invalid session."""
    both = requests.put(f"{url}/v1/kv/x?acquire=a&release=b", timeout=5)
    assert both.status_code == 400
    unknown = requests.put(f"{url}/v1/kv/x?acquire=nosuch", timeout=5)
    assert unknown.status_code == 500 and unknown.text.strip() == 'invalid session "nosuch"'


def test_sessions(client: Any, url: str) -> None:
    """create/info/list/node/renew/destroy and Consul's error texts."""
    sid = client.session.create(name="s", ttl=15, lock_delay=5)
    info = client.session.info(sid)[1]
    assert info["Name"] == "s" and info["TTL"] == "15s" and info["LockDelay"] == 5_000_000_000
    assert [s["ID"] for s in client.session.list()[1]] == [sid]
    assert [s["ID"] for s in client.session.node("node1")[1]] == [sid]
    assert client.session.renew(sid)["ID"] == sid
    client.session.destroy(sid)
    assert client.session.info(sid)[1] is None
    missing = requests.put(f"{url}/v1/session/renew/nope", timeout=5)
    assert missing.status_code == 404 and missing.text.strip() == "Session id 'nope' not found"
    short = requests.put(f"{url}/v1/session/create", json={"TTL": "5s"}, timeout=5)
    assert short.status_code == 500 and "must be between [10s=24h0m0s]" in short.text
    assert requests.put(f"{url}/v1/session/destroy/nope", timeout=5).json() is True


def test_critical_check_invalidates_a_linked_session(client: Any, url: str) -> None:
    """A session linked to a check is invalidated when that check turns critical."""
    requests.put(
        f"{url}/v1/agent/service/register",
        json={"Name": "w", "ID": "w1", "Check": {"TTL": "30s", "Status": "passing"}},
        timeout=5,
    ).raise_for_status()
    sid = requests.put(
        f"{url}/v1/session/create",
        json={
            "NodeChecks": ["serfHealth"],
            "ServiceChecks": [{"ID": "service:w1"}],
            "LockDelay": "1ms",
        },
        timeout=5,
    ).json()["ID"]
    assert client.kv.put("held", "x", acquire=sid)
    client.agent.check.ttl_fail("service:w1")
    assert client.session.info(sid)[1] is None
    assert "Session" not in client.kv.get("held")[1]


@pytest.mark.slow
def test_session_expires_after_twice_its_ttl(client: Any) -> None:
    """A 10 s session that is not renewed is invalidated at about 20 s, not at 10 s."""
    sid = client.session.create(ttl=10, lock_delay=0)
    assert client.kv.put("ttl-lock", "x", acquire=sid)
    created = time.monotonic()
    wait_for(lambda: time.monotonic() - created > 11, 15, interval=0.5, message="past the ttl")
    assert client.session.info(sid)[1] is not None, "still valid between ttl and 2 x ttl"
    wait_for(lambda: client.session.info(sid)[1] is None, 12, interval=0.2, message="expiry")
    assert 19 < time.monotonic() - created < 23


def test_http_and_tcp_checks_follow_their_target(client: Any, url: str) -> None:
    """Checks the registry runs itself turn passing and critical with the target's state."""
    answers = {"code": 200}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(answers["code"])
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    try:
        requests.put(
            f"{url}/v1/agent/service/register",
            json={
                "Name": "h",
                "ID": "h1",
                "Checks": [
                    {"HTTP": f"http://127.0.0.1:{server.server_address[1]}/", "Interval": "200ms"},
                    {"TCP": f"127.0.0.1:{port}", "Interval": "200ms"},
                ],
            },
            timeout=5,
        ).raise_for_status()

        def status(check: str) -> str:
            return str(client.agent.checks()[check]["Status"])

        wait_for(lambda: status("service:h1:1") == "passing", 3, message="http passing")
        wait_for(lambda: status("service:h1:2") == "passing", 3, message="tcp passing")
        answers["code"] = 500
        listener.close()
        wait_for(lambda: status("service:h1:1") == "critical", 3, message="http critical")
        wait_for(lambda: status("service:h1:2") == "critical", 3, message="tcp critical")
    finally:
        server.shutdown()
        listener.close()


def test_deregister_critical_service_after(url: str, client: Any) -> None:
    """A service critical longer than DeregisterCriticalServiceAfter is reaped (fast reaper)."""
    requests.put(
        f"{url}/v1/agent/service/register",
        json={
            "Name": "gone",
            "ID": "g1",
            "Check": {"TTL": "30s", "DeregisterCriticalServiceAfter": "100ms"},
        },
        timeout=5,
    ).raise_for_status()
    wait_for(lambda: "g1" not in client.agent.services(), 5, interval=0.1, message="reaped")
