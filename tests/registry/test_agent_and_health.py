"""consul-dev's agent, health, catalog and status endpoints, through py-consul and raw HTTP."""

from __future__ import annotations

from typing import Any

import requests

from tests.helpers import wait_for


def register(url: str, body: dict[str, Any]) -> requests.Response:
    return requests.put(f"{url}/v1/agent/service/register", json=body, timeout=5)


def test_register_and_read_back_through_py_consul(client: Any) -> None:
    """A service registered with a TTL check is listed with Consul's shapes and a critical check."""
    assert client.agent.service.register(
        "web",
        service_id="web1",
        address="10.0.0.1",
        port=80,
        tags=["a", "b"],
        meta={"v": "1"},
        check={"TTL": "10s"},
    )
    index, entries = client.health.service("web")
    assert int(index) > 0 and len(entries) == 1
    entry = entries[0]
    assert set(entry) == {"Node", "Service", "Checks"}
    assert entry["Node"]["Node"] == "node1"
    service = entry["Service"]
    assert (service["ID"], service["Service"], service["Address"], service["Port"]) == (
        "web1",
        "web",
        "10.0.0.1",
        80,
    )
    assert service["Tags"] == ["a", "b"] and service["Meta"] == {"v": "1"}
    assert service["Weights"] == {"Passing": 1, "Warning": 1}
    checks = {c["CheckID"]: c for c in entry["Checks"]}
    assert checks["serfHealth"]["Status"] == "passing"
    assert checks["service:web1"]["Status"] == "critical"
    assert checks["service:web1"]["Name"] == "Service 'web' check"
    assert client.health.service("web", passing=True)[1] == []
    assert "web1" in client.agent.services() and "service:web1" in client.agent.checks()


def test_keys_are_case_insensitive_snake_case_accepted_unknown_rejected(url: str) -> None:
    """Field names match case-insensitively, snake_case works, unknown fields are a 400."""
    assert (
        register(
            url, {"name": "api", "id": "api1", "port": 1, "enable_tag_override": True}
        ).status_code
        == 200
    )
    service = requests.get(f"{url}/v1/agent/service/api1", timeout=5).json()
    assert service["EnableTagOverride"] is True
    bad = register(url, {"Name": "x", "Colour": "red"})
    assert bad.status_code == 400
    assert bad.text.strip() == 'Request decode failed: json: unknown field "Colour"'
    assert register(url, {"Port": 1}).text.strip() == "Missing service name"
    empty = requests.put(f"{url}/v1/agent/service/register", timeout=5)
    assert empty.status_code == 400 and "EOF" in empty.text


def test_several_checks_get_numbered_ids(url: str, client: Any) -> None:
    """Two checks on one service are service:<id>:1 and :2."""
    assert register(url, {"Name": "db", "ID": "db1", "Checks": [{"TTL": "5s"}, {"TTL": "6s"}]}).ok
    assert {"service:db1:1", "service:db1:2"} <= set(client.agent.checks())


def test_errors_as_consul_gives_them(url: str) -> None:
    """404 for unknown ids, 405 with Allow for a wrong method, 404 for unknown paths."""
    missing = requests.put(f"{url}/v1/agent/service/deregister/nope", timeout=5)
    assert missing.status_code == 404
    assert missing.text.startswith('Unknown service ID "nope"')
    wrong = requests.get(f"{url}/v1/agent/service/register", timeout=5)
    assert wrong.status_code == 405 and wrong.headers["Allow"] == "OPTIONS,PUT"
    assert wrong.text.strip() == "method GET not allowed"
    assert requests.get(f"{url}/v1/nothing", timeout=5).status_code == 404
    unknown = requests.put(f"{url}/v1/agent/check/pass/nope", timeout=5)
    assert unknown.status_code == 404 and unknown.text.startswith('Unknown check ID "nope"')
    assert register(url, {"Name": "x", "Check": {"TTL": "1s", "Interval": "1s"}}).text.strip() == (
        "Invalid check: Interval and TTL cannot both be specified"
    )


def test_ttl_updates_and_expiry(url: str, client: Any) -> None:
    """pass/warn/fail/update set the status and output; without updates the TTL expires."""
    assert register(url, {"Name": "t", "ID": "t1", "Check": {"TTL": "1s"}}).ok
    assert client.agent.check.ttl_pass("service:t1", notes="fine")
    check = client.agent.checks()["service:t1"]
    assert (check["Status"], check["Output"]) == ("passing", "fine")
    response = requests.put(
        f"{url}/v1/agent/check/update/service:t1",
        json={"Status": "warning", "Output": "meh"},
        timeout=5,
    )
    assert response.ok and client.agent.checks()["service:t1"]["Status"] == "warning"
    bad = requests.put(f"{url}/v1/agent/check/update/service:t1", json={"Status": "odd"}, timeout=5)
    assert bad.status_code == 400 and bad.text.strip() == "Invalid check status: 'odd'"
    wait_for(
        lambda: client.agent.checks()["service:t1"]["Status"] == "critical", 3, message="TTL expiry"
    )
    assert client.agent.checks()["service:t1"]["Output"].startswith("TTL expired")


def test_maintenance_modes(url: str, client: Any) -> None:
    """Service and node maintenance add critical checks with Consul's notes, and remove them."""
    assert register(url, {"Name": "m", "ID": "m1", "Check": {"TTL": "30s", "Status": "passing"}}).ok
    assert client.agent.service.maintenance("m1", True)
    check = client.agent.checks()["_service_maintenance:m1"]
    assert check["Status"] == "critical" and check["Notes"].startswith(
        "Maintenance mode is enabled"
    )
    assert client.health.service("m", passing=True)[1] == []
    assert client.agent.service.maintenance("m1", False)
    assert len(client.health.service("m", passing=True)[1]) == 1
    assert requests.put(f"{url}/v1/agent/maintenance?enable=true&reason=upgrade", timeout=5).ok
    assert client.agent.checks()["_node_maintenance"]["Notes"] == "upgrade"
    assert client.health.service("m", passing=True)[1] == []
    bad = requests.put(f"{url}/v1/agent/maintenance", timeout=5)
    assert bad.status_code == 400 and bad.text.strip() == "Missing value for enable"


def test_tags_filter_with_and(url: str, client: Any) -> None:
    """Repeated tag parameters must all match."""
    assert register(url, {"Name": "s", "ID": "s1", "Tags": ["a", "b"]}).ok
    assert register(url, {"Name": "s", "ID": "s2", "Tags": ["a"]}).ok
    assert [e["Service"]["ID"] for e in client.health.service("s", tag=["a", "b"])[1]] == ["s1"]
    assert len(client.health.service("s", tag="a")[1]) == 2


def test_catalog_status_self(url: str, client: Any) -> None:
    """catalog lists consul and registered services; status and self answer like a dev agent."""
    assert register(url, {"Name": "c", "ID": "c1", "Tags": ["x"]}).ok
    services = client.catalog.services()[1]
    assert services["consul"] == [] and services["c"] == ["x"]
    assert client.catalog.service("c")[1][0]["ServiceID"] == "c1"
    assert client.status.leader() == "127.0.0.1:8300"
    assert client.agent.self()["Config"]["NodeName"] == "node1"
    assert requests.get(f"{url}/v1/status/peers", timeout=5).json() == ["127.0.0.1:8300"]
    response = requests.get(f"{url}/v1/health/service/c", timeout=5)
    assert int(response.headers["X-Consul-Index"]) > 0
    assert response.headers["X-Consul-KnownLeader"] == "true"
    nothing = requests.get(f"{url}/v1/health/service/never", timeout=5)
    assert nothing.json() == [] and int(nothing.headers["X-Consul-Index"]) >= 1


def test_remaining_read_and_write_endpoints(url: str, client: Any) -> None:
    """check register/deregister, health node/state/checks, catalog nodes/node/register/
    deregister and agent members answer with Consul's shapes."""
    assert register(url, {"Name": "r", "ID": "r1"}).ok
    assert client.agent.check.register(
        "extra", check={"TTL": "30s"}, check_id="extra", service_id="r1"
    )
    assert [c["CheckID"] for c in client.health.checks("r")[1]] == ["extra"]
    assert {c["CheckID"] for c in client.health.node("node1")[1]} >= {"serfHealth", "extra"}
    assert [c["CheckID"] for c in client.health.state("critical")[1]] == ["extra"]
    assert client.agent.check.deregister("extra")
    missing = requests.put(
        f"{url}/v1/agent/check/register",
        json={"Name": "x", "TTL": "1s", "ServiceID": "nope"},
        timeout=5,
    )
    assert missing.status_code == 404 and missing.text.strip() == 'ServiceID "nope" does not exist'
    assert [n["Node"] for n in client.catalog.nodes()[1]] == ["node1"]
    assert "r1" in client.catalog.node("node1")[1]["Services"]
    assert (
        requests.put(
            f"{url}/v1/catalog/register",
            json={
                "Node": "node1",
                "Address": "127.0.0.1",
                "Service": {"Service": "cat", "ID": "cat1", "Port": 5},
            },
            timeout=5,
        ).json()
        is True
    )
    assert client.catalog.service("cat")[1][0]["ServicePort"] == 5
    assert (
        requests.put(
            f"{url}/v1/catalog/deregister", json={"Node": "node1", "ServiceID": "cat1"}, timeout=5
        ).json()
        is True
    )
    assert client.catalog.service("cat")[1] == []
    assert client.agent.members()[0]["Name"] == "node1"
    bad_state = requests.get(f"{url}/v1/health/state/sideways", timeout=5)
    assert bad_state.status_code == 400
