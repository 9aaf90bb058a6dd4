"""Health, catalog and status endpoints: one dev node, its serfHealth check and the consul
service, with Consul's shapes, filters, headers and errors."""

from __future__ import annotations

from typing import Any

import consul
import pytest
from consul import Check

from tests.devconsul.conftest import Api


def test_a_fresh_registry_looks_like_consul_agent_dev(client: Any, api: Api) -> None:
    """One node, a passing serfHealth check, the consul service, a leader at 127.0.0.1:8300."""
    nodes = client.catalog.nodes()[1]
    assert [n["Node"] for n in nodes] == ["node1"]
    assert nodes[0]["TaggedAddresses"]["lan"] == "127.0.0.1"
    assert client.catalog.services()[1] == {"consul": []}
    serf = client.health.node("node1")[1]
    assert [(c["CheckID"], c["Name"], c["Status"], c["Output"]) for c in serf] == [
        ("serfHealth", "Serf Health Status", "passing", "Agent alive and reachable")
    ]
    assert client.health.service("consul")[1][0]["Service"]["Port"] == 8300
    assert client.status.leader() == "127.0.0.1:8300"
    assert client.status.peers() == ["127.0.0.1:8300"]
    leader = api.get("/v1/status/leader")
    assert leader.text == '"127.0.0.1:8300"' and "X-Consul-Index" not in leader.headers


def test_health_service_entry_shape(client: Any, api: Api) -> None:
    """An entry is {Node, Service, Checks}: node checks first, then the service's."""
    client.agent.service.register("web", service_id="w1", address="10.0.0.1", port=80)
    index, entries = client.health.service("web")
    assert int(index) > 1 and len(entries) == 1
    entry = entries[0]
    assert set(entry) == {"Node", "Service", "Checks"}
    assert set(entry["Node"]) == {
        "ID",
        "Node",
        "Address",
        "Datacenter",
        "TaggedAddresses",
        "Meta",
        "CreateIndex",
        "ModifyIndex",
    }
    service = entry["Service"]
    assert (service["ID"], service["Service"], service["Address"], service["Port"]) == (
        "w1",
        "web",
        "10.0.0.1",
        80,
    )
    assert service["Tags"] == [] and service["Meta"] is None  # registered without Meta
    assert service["Weights"] == {"Passing": 1, "Warning": 1}
    assert service["Proxy"] == {"Mode": "", "MeshGateway": {}, "Expose": {}}
    assert service["Connect"] == {} and service["CreateIndex"] == service["ModifyIndex"]
    assert [c["CheckID"] for c in entry["Checks"]] == ["serfHealth"]
    response = api.get("/v1/health/service/web")
    assert response.headers["X-Consul-KnownLeader"] == "true"
    assert response.headers["X-Consul-LastContact"] == "0"
    assert response.headers["X-Consul-Effective-Consistency"] == "leader"
    assert response.headers["X-Consul-Query-Backend"] == "blocking-query"


def test_initial_status_is_critical_until_a_pass(client: Any) -> None:
    """A TTL check starts critical unless Status is given: `passing` hides the instance."""
    client.agent.service.register("a", service_id="a1", check=Check.ttl("30s"))
    client.agent.service.register(
        "a", service_id="a2", check={**Check.ttl("30s"), "Status": "passing"}
    )
    assert [e["Service"]["ID"] for e in client.health.service("a", passing=True)[1]] == ["a2"]
    assert client.agent.check.ttl_pass("service:a1")
    assert len(client.health.service("a", passing=True)[1]) == 2


def test_passing_drops_warning_and_reorders_like_consul(api: Api) -> None:
    """?passing drops any entry with a check not passing (warning too), by swapping in the
    last entry as Consul does; a bad value is a 400."""
    for n, status in enumerate(["warning", "passing", "passing", "critical"], start=1):
        api.register({"Name": "p", "ID": f"p{n}", "Check": {"TTL": "30s", "Status": status}})
    ids = [e["Service"]["ID"] for e in api.get("/v1/health/service/p", passing="").json()]
    assert ids == ["p3", "p2"]
    for value in ("1", "true", "T"):
        assert len(api.get("/v1/health/service/p", passing=value).json()) == 2
    assert len(api.get("/v1/health/service/p", passing="false").json()) == 4
    bad = api.get("/v1/health/service/p", passing="yes")
    assert (bad.status_code, bad.text) == (400, "Invalid value for ?passing")


def test_tags_filter_all_of_them_case_insensitively(client: Any, api: Api) -> None:
    """Repeated tag parameters must all match, ignoring case (health and catalog)."""
    api.register({"Name": "s", "ID": "s1", "Tags": ["Primary", "v2"]})
    api.register({"Name": "s", "ID": "s2", "Tags": ["v2"]})
    assert [e["Service"]["ID"] for e in client.health.service("s", tag=["primary", "V2"])[1]] == [
        "s1"
    ]
    assert len(client.health.service("s", tag="v2")[1]) == 2
    assert [s["ServiceID"] for s in client.catalog.service("s", tag="PRIMARY")[1]] == ["s1"]


def test_unknown_service_is_an_empty_list_with_an_index(api: Api) -> None:
    """A service nobody registered answers [] with a non-zero X-Consul-Index."""
    response = api.get("/v1/health/service/never")
    assert response.json() == [] and int(response.headers["X-Consul-Index"]) >= 1
    assert api.get("/v1/catalog/service/never").json() == []


@pytest.mark.parametrize(
    ("params", "status", "text"),
    [
        ({"dc": "dc2"}, 500, "No path to datacenter"),
        (
            {"stale": "", "consistent": ""},
            400,
            "Cannot specify ?stale with ?consistent, conflicting semantics.",
        ),
        (
            {"cached": "", "consistent": ""},
            400,
            "Cannot specify ?cached with ?consistent, conflicting semantics.",
        ),
        ({"index": "1", "wait": "10"}, 400, "Invalid wait time"),
        ({"index": "x"}, 400, "Invalid index"),
        ({"max_stale": "x"}, 400, 'Invalid max_stale value "x"'),
    ],
)
def test_read_option_errors(api: Api, params: dict[str, str], status: int, text: str) -> None:
    """Bad read options answer with Consul's status and text, on health and catalog alike."""
    for path in ("/v1/health/service/x", "/v1/catalog/services", "/v1/health/state/any"):
        response = api.get(path, **params)
        assert (response.status_code, response.text) == (status, text), path


def test_consistency_modes_are_reported(api: Api) -> None:
    """?stale and ?consistent are accepted and reported in X-Consul-Effective-Consistency;
    dc=dc1 is this datacenter."""
    for params, mode in (({"stale": ""}, "stale"), ({"consistent": ""}, "consistent")):
        response = api.get("/v1/catalog/services", dc="dc1", **params)
        assert response.headers["X-Consul-Effective-Consistency"] == mode


def test_health_checks_node_and_state(client: Any, api: Api) -> None:
    """health/checks by service name, health/node by node, health/state by state."""
    api.register({"Name": "c", "ID": "c1", "Check": {"TTL": "30s"}})
    api.register({"Name": "c", "ID": "c2", "Check": {"TTL": "30s", "Status": "passing"}})
    assert [c["CheckID"] for c in client.health.checks("c")[1]] == ["service:c1", "service:c2"]
    assert [c["CheckID"] for c in client.health.node("node1")[1]] == [
        "serfHealth",
        "service:c1",
        "service:c2",
    ]
    assert [c["CheckID"] for c in client.health.state("critical")[1]] == ["service:c1"]
    assert len(client.health.state("any")[1]) == 3
    assert api.get("/v1/health/state/sideways").json() == []
    assert api.get("/v1/health/node/elsewhere").json() == []
    assert api.get("/v1/health/checks/nothing").json() == []
    missing = api.get("/v1/health/state/")
    assert (missing.status_code, missing.text) == (400, "Missing check state")
    assert api.get("/v1/health/service/").text == "Missing service name"


def test_catalog_service_node_and_nodes(client: Any, api: Api) -> None:
    """catalog/services lists names with their tags; catalog/service lists ServiceNodes;
    catalog/node answers the node with its services, or null."""
    api.register({"Name": "c", "ID": "c1", "Tags": ["x"], "Port": 9, "Meta": {"k": "v"}})
    api.register({"Name": "c", "ID": "c2", "Tags": ["y", "x"]})
    assert client.catalog.services()[1] == {"consul": [], "c": ["x", "y"]}
    first = client.catalog.service("c")[1][0]
    assert (first["ServiceID"], first["ServicePort"], first["ServiceMeta"]) == ("c1", 9, {"k": "v"})
    assert (first["Node"], first["Address"], first["Datacenter"]) == ("node1", "127.0.0.1", "dc1")
    node = client.catalog.node("node1")[1]
    assert set(node["Services"]) == {"consul", "c1", "c2"}
    unknown = api.get("/v1/catalog/node/elsewhere")
    assert (unknown.status_code, unknown.text) == (200, "null")


def test_catalog_register_and_deregister_an_external_node(client: Any, api: Api) -> None:
    """catalog/register writes a node, a service and checks straight into the catalog;
    catalog/deregister removes a service, a check, or the whole node."""
    body = {
        "Node": "ext",
        "Address": "10.9.9.9",
        "NodeMeta": {"zone": "a"},
        "Service": {"Service": "db", "Port": 5432},
        "Checks": [{"Name": "db alive", "ServiceID": "db", "Status": "passing"}],
    }
    response = api.put("/v1/catalog/register", json=body)
    assert (response.status_code, response.json()) == (200, True)
    entry = client.health.service("db")[1][0]
    assert (entry["Node"]["Node"], entry["Service"]["ID"]) == ("ext", "db")
    assert [c["CheckID"] for c in entry["Checks"]] == ["db alive"]
    assert [n["Node"] for n in client.catalog.nodes(node_meta={"zone": "a"})[1]] == ["ext"]
    assert api.put("/v1/catalog/deregister", json={"Node": "ext", "CheckID": "db alive"}).json()
    assert client.health.service("db")[1][0]["Checks"] == []
    cache = {"Node": "ext", "Address": "10.9.9.9", "Service": {"Service": "cache", "Port": 6379}}
    assert api.put("/v1/catalog/register", json=cache).json() is True
    assert set(client.catalog.node("ext")[1]["Services"]) == {"db", "cache"}
    assert api.put("/v1/catalog/deregister", json={"Node": "ext", "ServiceID": "cache"}).json()
    assert client.catalog.service("cache")[1] == []
    assert set(client.catalog.node("ext")[1]["Services"]) == {"db"}
    assert api.put("/v1/catalog/deregister", json={"Node": "ext"}).json() is True
    assert client.health.service("db")[1] == [] and "ext" not in str(client.catalog.nodes())


def test_catalog_register_errors(api: Api) -> None:
    """Consul's errors for catalog writes, including python-consul's old WriteRequest body."""
    cases = [
        ({"Address": "1.2.3.4"}, 500, "Must provide node"),
        ({"Node": "n"}, 500, "Must provide address if SkipNodeUpdate is not set"),
        (
            {"Node": "n", "Address": "1.2.3.4", "Service": {"ID": "x"}},
            500,
            "Must provide service name (Service.Service) when service ID is provided",
        ),
        (
            {"Node": "n", "Address": "1.2.3.4", "Check": {"Name": "c", "ServiceID": "s"}},
            500,
            "Unknown service ID 's' for check ID 'c'",
        ),
        (
            {"Node": "n", "Address": "1.2.3.4", "Check": {"Name": "c", "Node": "m"}},
            500,
            "Node 'm' for check 'c' doesn't match register request node 'n'",
        ),
        (
            {"Node": "n", "Address": "1.2.3.4", "WriteRequest": {"Token": ""}},
            400,
            'Request decode failed: json: unknown field "WriteRequest"',
        ),
        (
            {"Node": "n", "Address": "1.2.3.4", "Service": {"Name": "x"}},
            400,
            'Request decode failed: json: unknown field "Name"',
        ),
    ]
    for body, status, text in cases:
        response = api.put("/v1/catalog/register", json=body)
        assert (response.status_code, response.text) == (status, text), body
    assert api.put("/v1/catalog/deregister", json={}).text == "Must provide node"


def test_status_peers_raw(api: Api) -> None:
    """GET /v1/status/peers answers 200 with a JSON list holding the one raft peer (the
    leader's address), without index headers, as /v1/status/leader does."""
    response = api.get("/v1/status/peers")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == ["127.0.0.1:8300"]
    assert response.json()[0] == api.get("/v1/status/leader").json()
    assert "X-Consul-Index" not in response.headers


def test_catalog_register_and_deregister_through_py_consul(client: Any) -> None:
    """py-consul's catalog.register (lowercase node/address/service/check keys) and
    catalog.deregister (node, serviceid, checkid) answer True and change the catalog; a
    refused registration raises ConsulException with Consul's text."""
    assert client.catalog.register(
        "ext",
        "10.9.9.9",
        service={"Service": "db", "ID": "db1", "Port": 5432, "Tags": ["primary"]},
        check={"Name": "db alive", "CheckID": "db-alive", "ServiceID": "db1", "Status": "passing"},
        tagged_addresses={"wan": "192.0.2.9"},
    )
    node = client.catalog.node("ext")[1]
    assert (node["Node"]["Address"], node["Node"]["TaggedAddresses"]) == (
        "10.9.9.9",
        {"wan": "192.0.2.9"},
    )
    assert list(node["Services"]) == ["db1"]
    entry = client.health.service("db", passing=True)[1][0]
    assert (entry["Node"]["Node"], entry["Service"]["ID"], entry["Service"]["Tags"]) == (
        "ext",
        "db1",
        ["primary"],
    )
    assert [(c["CheckID"], c["Status"]) for c in entry["Checks"]] == [("db-alive", "passing")]
    assert client.catalog.register("ext", "10.9.9.9", service={"Service": "cache", "Port": 6379})
    assert client.catalog.deregister("ext", check_id="db-alive") is True
    assert client.health.checks("db")[1] == []
    assert client.catalog.deregister("ext", service_id="cache") is True
    assert client.catalog.service("cache")[1] == []
    assert list(client.catalog.node("ext")[1]["Services"]) == ["db1"]
    assert client.catalog.deregister("ext") is True
    assert client.catalog.node("ext")[1] is None
    assert [n["Node"] for n in client.catalog.nodes()[1]] == ["node1"]
    with pytest.raises(consul.ConsulException) as raised:
        client.catalog.register("bare", "")
    assert str(raised.value) == "500 Must provide address if SkipNodeUpdate is not set"
