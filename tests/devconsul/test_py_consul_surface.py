"""py-consul's wrappers of the agent, operator, coordinate, config and event endpoints work
against consul-dev as against a dev agent (no exception, Consul's shapes)."""

from __future__ import annotations

from typing import Any

import consul
import pytest


def test_operator_wrappers(client: Any) -> None:
    """raft_config, autopilot, usage; raft changes and keyring raise as Consul's 500s do."""
    assert client.operator.raft_config()["Servers"][0]["Leader"] is True
    assert client.operator.autopilot_configuration()["CleanupDeadServers"] is True
    assert client.operator.autopilot_health()["Healthy"] is True
    assert client.operator.usage()["Usage"]["dc1"]["Nodes"] == 1
    with pytest.raises(consul.ConsulException):
        client.operator.raft_transfer_leader()
    with pytest.raises(consul.ConsulException):
        client.operator.keyring_list()


def test_coordinate_wrappers(client: Any) -> None:
    """coordinate datacenters, nodes, node and update."""
    assert client.coordinate.datacenters()[0]["Datacenter"] == "dc1"
    index, nodes = client.coordinate.nodes()
    assert int(index) >= 1 and nodes[0]["Node"] == "node1"
    coord = {"Vec": [0.0] * 8, "Error": 1.5, "Adjustment": 0.0, "Height": 1e-5}
    assert client.coordinate.update("node1", coord)
    assert client.coordinate.node("node1")[1][0]["Coord"] == coord


def test_agent_wrappers(client: Any) -> None:
    """members (LAN and WAN), metrics, reload, join, force-leave."""
    assert [m["Name"] for m in client.agent.members(wan=True)] == ["node1.dc1"]
    assert "Gauges" in client.agent.metrics()
    assert client.agent.reload() is not False
    assert client.agent.join("127.0.0.1") is not False
    assert client.agent.force_leave("node1") is not False


def test_config_wrappers(client: Any) -> None:
    """config set (with cas), get, list, delete."""
    assert client.config.set("service-defaults", "web", {"Protocol": "http"}, cas=0) is True
    entry = client.config.get("service-defaults", "web")
    assert entry["Protocol"] == "http"
    assert [e["Name"] for e in client.config.list("service-defaults")] == ["web"]
    client.config.delete("service-defaults", "web")
    assert client.config.list("service-defaults") == []


def test_status_and_catalog_wrappers(client: Any) -> None:
    """status leader and peers, catalog datacenters, txn."""
    assert client.status.peers() == [client.status.leader()]
    assert client.catalog.datacenters() == ["dc1"]
    assert client.txn.put([{"KV": {"Verb": "set", "Key": "k", "Value": "dg=="}}])["Errors"] is None
