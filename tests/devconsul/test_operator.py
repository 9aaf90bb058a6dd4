"""The agent and operator surface of a single server: self, members, status, coordinates,
raft, autopilot, keyring, usage, tokens, metrics, join and leave."""

from __future__ import annotations

from typing import Any

import pytest

from pilot.devconsul.server import DevConsul
from tests.devconsul.conftest import Api
from tests.helpers import scaled


def test_status_matches_agent_self(client: Any, api: Api) -> None:
    """status/leader, status/peers and agent/self's leader_addr name one address, the node's."""
    stats = client.agent.self()["Stats"]
    assert stats["consul"]["leader_addr"] == "127.0.0.1:8300"
    assert stats["consul"]["leader"] == "true" and stats["raft"]["state"] == "Leader"
    assert client.status.leader() == "127.0.0.1:8300"
    assert client.status.peers() == ["127.0.0.1:8300"]
    assert set(stats) >= {"agent", "build", "consul", "raft", "runtime", "serf_lan", "serf_wan"}
    assert api.get("/v1/status/leader", dc="nope").status_code == 500


def test_status_follows_the_listen_address() -> None:
    """A registry listening on another loopback address leads from that address."""
    registry = DevConsul("127.0.0.2:0", node="n2")
    registry.start()
    try:
        api = Api(registry)
        assert api.get("/v1/status/leader").json() == "127.0.0.2:8300"
        me = api.get("/v1/agent/self").json()
        assert me["Stats"]["consul"]["leader_addr"] == "127.0.0.2:8300"
        assert me["Member"]["Addr"] == "127.0.0.2"
    finally:
        registry.stop()


def test_self_has_consul_shapes(client: Any) -> None:
    """agent/self carries xDS ports and the dev server's DebugConfig."""
    me = client.agent.self()
    assert me["xDS"]["Ports"] == {"Plaintext": 8502, "TLS": 8503}
    assert me["DebugConfig"]["DevMode"] is True
    assert me["Meta"]["consul-version"] == me["Config"]["Version"]


def test_datacenters(client: Any, api: Api) -> None:
    """catalog/datacenters and coordinate/datacenters name the one datacenter."""
    assert client.catalog.datacenters() == ["dc1"]
    [wan] = api.get("/v1/coordinate/datacenters").json()
    assert (wan["Datacenter"], wan["AreaID"], wan["Coordinates"][0]["Node"]) == (
        "dc1",
        "wan",
        "node1",  # Consul strips the WAN name's ".dc1"
    )


def test_members_lan_wan_and_segments(api: Api) -> None:
    """members: LAN by default, WAN with ?wan=1 (node.dc, port 8302); segments as in CE."""
    [lan] = api.get("/v1/agent/members").json()
    assert (lan["Name"], lan["Port"]) == ("node1", 8301)
    [wan] = api.get("/v1/agent/members", wan="1").json()
    assert (wan["Name"], wan["Port"]) == ("node1.dc1", 8302)
    bad = api.get("/v1/agent/members", wan="1", segment="alpha")
    assert (bad.status_code, bad.text) == (400, "Cannot provide a segment with wan=true")
    assert api.get("/v1/agent/members", segment="_all").status_code == 200
    assert api.get("/v1/agent/members", segment="alpha").status_code == 500


def test_join_leave_and_reload(api: Api) -> None:
    """reload is a 200; joining itself works, another address does not; force-leave of an
    unknown node is Consul's 500."""
    assert api.put("/v1/agent/reload").status_code == 200
    assert api.put("/v1/agent/join/127.0.0.1").status_code == 200
    other = api.put("/v1/agent/join/127.0.0.9")
    assert (other.status_code, other.text) == (
        500,
        "1 error occurred:\n\t* Failed to join 127.0.0.9: dial tcp 127.0.0.9:8301: connect: "
        "connection refused\n\n",
    )
    assert api.put("/v1/agent/force-leave/node1").status_code == 200
    gone = api.put("/v1/agent/force-leave/ghost")
    assert (gone.status_code, gone.text) == (500, "agent: No node found with name 'ghost'")
    assert api.put("/v1/agent/leave").status_code == 200


def test_tokens_with_acls_disabled(api: Api) -> None:
    """agent/token/* is 401 "ACL support disabled"."""
    response = api.put("/v1/agent/token/default", json={"Token": "x"})
    assert (response.status_code, response.text) == (401, "ACL support disabled")


def test_metrics_json_and_prometheus(api: Api) -> None:
    """agent/metrics answers go-metrics JSON; Prometheus text is a 415 without a retention
    time, as in Consul, and served with one."""
    body = api.get("/v1/agent/metrics").json()
    assert set(body) == {"Timestamp", "Gauges", "Points", "Counters", "Samples"}
    assert any(g["Name"] == "consul.runtime.num_goroutines" for g in body["Gauges"])
    refused = api.get("/v1/agent/metrics", format="prometheus")
    assert refused.status_code == 415
    retaining = DevConsul("127.0.0.1:0", node="node1", prometheus_retention=60.0)
    retaining.start()
    try:
        text = Api(retaining).get("/v1/agent/metrics", format="prometheus")
    finally:
        retaining.stop()
    assert text.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE consul_rpc_queries_blocking gauge\nconsul_rpc_queries_blocking 0" in text.text


def test_coordinates(api: Api) -> None:
    """coordinate/nodes lists the node; update replaces it, wakes a blocked read; an unknown
    node's update is dropped and its read is a 404."""
    [mine] = api.get("/v1/coordinate/nodes").json()
    assert mine["Node"] == "node1" and len(mine["Coord"]["Vec"]) == 8
    index = api.index("/v1/coordinate/nodes")
    watch = api.watch("/v1/coordinate/nodes", index=index, wait="10s")
    api.wait_blocked(1)
    coord = {"Vec": [0.1] * 8, "Error": 0.5, "Adjustment": 0.0, "Height": 1e-5}
    assert api.put("/v1/coordinate/update", json={"Node": "node1", "Coord": coord}).ok
    assert watch.wait(5) and watch.index > index
    assert api.get("/v1/coordinate/node/node1").json()[0]["Coord"]["Vec"] == [0.1] * 8
    api.put("/v1/coordinate/update", json={"Node": "ghost", "Coord": coord})
    assert api.get("/v1/coordinate/node/ghost").status_code == 404
    bad = api.put("/v1/coordinate/update", json={"Node": "node1", "Coord": {"Vec": [1.0]}})
    assert bad.status_code == 500 and bad.text.startswith("rejected bad coordinate")


def test_raft(api: Api) -> None:
    """raft configuration is one leader voter; removing peers or transferring leadership
    fails as on a lone server."""
    config = api.get("/v1/operator/raft/configuration").json()
    [server] = config["Servers"]
    assert (server["Leader"], server["Voter"], server["Address"]) == (True, True, "127.0.0.1:8300")
    assert api.delete("/v1/operator/raft/peer").status_code == 400
    unknown = api.delete("/v1/operator/raft/peer", address="10.0.0.1:8300")
    assert unknown.text == 'address "10.0.0.1:8300" was not found in the Raft configuration'
    transfer = api.http.post(api.url + "/v1/operator/raft/transfer-leader", timeout=scaled(5))
    assert (transfer.status_code, transfer.text) == (
        500,
        "rpc error: code = Unknown desc = cannot find peer",
    )


def test_autopilot(api: Api) -> None:
    """autopilot configuration reads, writes with cas, and health and state show one server."""
    config = api.get("/v1/operator/autopilot/configuration").json()
    assert config["CleanupDeadServers"] is True and config["LastContactThreshold"] == "200ms"
    stale = api.put(
        "/v1/operator/autopilot/configuration", json={"MaxTrailingLogs": 9}, cas="999999"
    )
    assert stale.json() is False
    done = api.put(
        "/v1/operator/autopilot/configuration",
        json={"MaxTrailingLogs": 9},
        cas=str(config["ModifyIndex"]),
    )
    assert done.json() is True
    assert api.get("/v1/operator/autopilot/configuration").json()["MaxTrailingLogs"] == 9
    bad = api.put("/v1/operator/autopilot/configuration", json={"Nope": 1})
    assert bad.text == 'Error parsing autopilot config: json: unknown field "Nope"'
    health = api.get("/v1/operator/autopilot/health").json()
    assert health["Healthy"] is True and health["Servers"][0]["Leader"] is True
    state = api.get("/v1/operator/autopilot/state").json()
    assert state["Voters"] == [state["Leader"]]


def test_keyring_without_encryption(api: Api) -> None:
    """Without gossip encryption every keyring operation is Consul's 500 with each pool's
    failure and each node's message."""
    listing = api.get("/v1/operator/keyring")
    assert (listing.status_code, listing.text) == (
        500,
        "4 errors occurred:\n"
        "\t* WAN error: 1/1 nodes reported failure\n"
        "\t* node1.dc1: Keyring is empty (encryption not enabled)\n"
        "\t* dc1 (LAN) error: 1/1 nodes reported failure\n"
        "\t* node1: Keyring is empty (encryption not enabled)\n\n",
    )
    key = "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s="
    for method in ("POST", "PUT", "DELETE"):
        changed = api.http.request(method, api.url + "/v1/operator/keyring", json={"Key": key})
        assert changed.text == listing.text.replace("Keyring is empty", "No keyring to modify"), (
            method
        )
    bad = api.put("/v1/operator/keyring", json={"Key": "x"})
    assert (bad.status_code, bad.text) == (
        500,
        "2 errors occurred:\n"
        "\t* WAN error: illegal base64 data at input byte 0\n"
        "\t* dc1 (LAN) error: illegal base64 data at input byte 0\n\n",
    )


def test_usage_counts_the_catalog(api: Api) -> None:
    """operator/usage counts services, instances and nodes, consul included but not billed."""
    api.register({"Name": "web"})
    usage = api.get("/v1/operator/usage").json()["Usage"]["dc1"]
    assert (usage["Services"], usage["ServiceInstances"], usage["Nodes"]) == (2, 2, 1)
    assert usage["BillableServiceInstances"] == 1


@pytest.mark.parametrize(
    "path", ["/v1/acl/tokens", "/v1/peerings", "/v1/snapshot", "/v1/query", "/v1/nope"]
)
def test_endpoints_not_served_are_unknown_paths(api: Api, path: str) -> None:
    """Endpoints consul-dev does not serve answer exactly as Consul answers an unknown path."""
    response = api.get(path)
    assert (response.status_code, response.text) == (
        404,
        "Invalid URL path: not a recognized HTTP API endpoint\n",
    )
