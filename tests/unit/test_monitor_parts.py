"""The parts of the traffic monitor that need no process: its config under `pilot up` and
`pilot run`, the store's ring and numbering, HAR export, and how `pilot traffic` prints."""

from __future__ import annotations

import asyncio
import json

import pytest

from pilot.cli.har import har_log
from pilot.cli.traffic import summary_line, whole_text
from pilot.config.errors import ConfigError
from pilot.config.load import parse_config
from pilot.traffic.store import MASKED, Body, Exchange, TrafficStore, mask_headers
from tests.helpers import scaled

STACK = """{ monitor: MONITOR, jobs: [
  { name: "api", exec: "api", port: "auto" },
  { name: "web", exec: "web", port: "auto", monitor: false },
  { name: "worker", exec: "worker" },
] }"""


def ports(key: str, _place: str) -> int:
    return {"api": 41001, "web": 41002, "api@monitor": 41003, "@consul": 1, "@dns": 2}[key]


def test_monitor_true_puts_a_proxy_on_each_service_unless_a_job_says_no() -> None:
    """`monitor: true`: a service keeps its advertised port (the proxy's) and gets an internal
    one, which its default health check connects to; `monitor: false` on a job wins."""
    config = parse_config(STACK.replace("MONITOR", "true"), {}, "/s/pilot.json5", up=ports)
    api, web, worker = config.jobs
    assert (api.port, api.upstream_port) == (41001, 41003)
    assert api.health is not None and api.health.tcp == "127.0.0.1:41003"
    assert (web.port, web.upstream_port) == (41002, None)
    assert worker.upstream_port is None
    assert config.monitor is not None
    assert (config.monitor.listen, config.monitor.body_limit, config.monitor.keep) == (
        "127.0.0.1:4040",
        64 << 10,
        1000,
    )


def test_a_job_can_ask_for_the_monitor_alone() -> None:
    """Without a top-level `monitor`, `monitor: true` on a job monitors that job only."""
    text = STACK.replace("monitor: MONITOR, ", "").replace(
        'port: "auto" },', 'port: "auto", monitor: true },', 1
    )
    api, web, _ = parse_config(text, {}, "/s/pilot.json5", up=ports).jobs
    assert api.upstream_port == 41003 and web.upstream_port is None


def test_monitor_settings_are_checked_at_their_place() -> None:
    bad = '{ listen: "localhost", body_limit: -1, keep: 0, colour: 1 }'
    with pytest.raises(ConfigError) as caught:
        parse_config(STACK.replace("MONITOR", bad), {}, "/s/pilot.json5", up=ports)
    messages = "\n".join(str(error) for error in caught.value.errors)
    assert "monitor.listen: 'localhost' is not \"host:port\"" in messages
    assert "monitor.body_limit:" in messages and "monitor.keep:" in messages
    assert "monitor.colour: unknown key" in messages


def test_a_monitored_job_needs_a_port() -> None:
    with pytest.raises(ConfigError, match=r"jobs\[0\]\.monitor: needs a port"):
        parse_config('{jobs: [{name: "a", exec: "a", monitor: true}]}', {}, "/s/p.json5", up=ports)


def test_pilot_run_refuses_the_monitor() -> None:
    text = '{monitor: true, jobs: [{name: "a", exec: "a", port: 80, monitor: true}]}'
    with pytest.raises(ConfigError) as caught:
        parse_config(text, {})
    messages = [str(error) for error in caught.value.errors]
    assert "monitor: is for pilot up" in messages
    assert "jobs[0].monitor: is for pilot up" in messages


def exchange(service: str = "api", **changes: object) -> Exchange:
    request_body, response_body = Body(8), Body(64)
    request_body.add(b'{"n": 1}')
    response_body.add(b'{"ok": true, "items": [1, 2]}')
    fields: dict[str, object] = {
        "service": service,
        "started": 1_700_000_000.25,
        "client": "127.0.0.1:50000",
        "method": "POST",
        "url": "/orders?id=7&x",
        "http_version": "1.1",
        "request_headers": [("Host", "127.0.0.1:41001"), ("Content-Type", "application/json")],
        "request_body": request_body,
        "client_service": "web",
        "status": 201,
        "reason": "Created",
        "response_headers": [("Content-Type", "application/json")],
        "response_body": response_body,
        "duration": 0.0125,
    }
    fields.update(changes)
    return Exchange(**fields)  # type: ignore[arg-type]


def test_the_store_numbers_exchanges_as_they_end_and_keeps_the_last_of_each_service() -> None:
    store = TrafficStore(keep=2)
    for service in ("api", "api", "web", "api"):
        store.add(exchange(service))
    assert [e.id for e in store.select()] == [2, 3, 4]  # api's first went: its ring holds 2
    assert [e.id for e in store.select(["api"])] == [2, 4]
    assert [e.id for e in store.select(after=2, last=1)] == [4]
    assert store.select(last=0) == []
    assert store.get(3) is not None and store.get(1) is None
    assert store.services() == ["api", "web"]


def test_waiting_for_the_store_returns_when_an_exchange_comes() -> None:
    async def scenario() -> float:
        store = TrafficStore()
        loop = asyncio.get_running_loop()
        loop.call_later(0.05, store.add, exchange())
        began = loop.time()
        await store.feed.wait(0, scaled(5.0))
        return loop.time() - began

    assert asyncio.run(scenario()) < 2.0


def test_bodies_are_cut_at_the_limit_and_say_so() -> None:
    body = Body(4)
    body.add(b"abcdef")
    body.add(b"gh")
    assert body.to_json() == {"size": 8, "truncated": True, "text": "abcd"}
    binary = Body(16)
    binary.add(b"\xff\x00")
    assert binary.to_json() == {"size": 2, "truncated": False, "base64": "/wA="}


def test_credential_headers_are_masked_unless_unmasked() -> None:
    headers = [("Authorization", "Bearer s3cret"), ("Cookie", "a=b"), ("Accept", "*/*")]
    assert mask_headers(headers, frozenset()) == [
        ("Authorization", MASKED),
        ("Cookie", MASKED),
        ("Accept", "*/*"),
    ]
    assert mask_headers(headers, frozenset({"authorization"}))[0] == (
        "Authorization",
        "Bearer s3cret",
    )


def test_har_export_is_har_1_2() -> None:
    """The fields HAR 1.2 requires, absolute URLs, query strings, bodies, and pilot's own
    fields under `_` names."""
    recorded = exchange()
    recorded.id = 9
    recorded.request_body.add(b"more")  # over its limit of 8: truncated
    log = har_log([json.loads(json.dumps(recorded.to_json()))], "0.1.0")["log"]
    assert log["version"] == "1.2" and log["creator"]["name"] == "pilot"
    (entry,) = log["entries"]
    assert entry["startedDateTime"] == "2023-11-14T22:13:20.250Z"
    assert entry["time"] == 12.5
    request, response = entry["request"], entry["response"]
    assert request["url"] == "http://127.0.0.1:41001/orders?id=7&x"
    assert request["queryString"] == [{"name": "id", "value": "7"}, {"name": "x", "value": ""}]
    assert request["postData"] == {"mimeType": "application/json", "text": '{"n": 1}'}
    assert request["bodySize"] == 12 and "request body truncated" in entry["comment"]
    assert (response["status"], response["statusText"]) == (201, "Created")
    assert response["content"]["text"] == '{"ok": true, "items": [1, 2]}'
    assert {"name": "Content-Type", "value": "application/json"} in response["headers"]
    for part in (request, response):
        assert part["httpVersion"] == "HTTP/1.1" and part["cookies"] == []
    assert (entry["_service"], entry["_clientService"], entry["_id"]) == ("api", "web", 9)
    assert set(entry["timings"]) >= {"send", "wait", "receive"} and entry["cache"] == {}


def test_pilot_traffic_prints_one_line_per_exchange_and_a_whole_one_pretty() -> None:
    recorded = exchange()
    recorded.id = 3
    line = summary_line(recorded.summary())
    assert "3" in line and "web → api" in line and "POST /orders?id=7&x  201  12.5 ms" in line
    text = whole_text(recorded.to_json())
    assert "POST /orders?id=7&x HTTP/1.1" in text and "HTTP/1.1 201 Created" in text
    assert '{\n  "ok": true,\n  "items": [\n    1,' in text  # JSON pretty-printed
    failed = exchange(status=None, reason="", duration=None, error="upstream refused")
    assert "failed (upstream refused)" in summary_line(failed.summary())
