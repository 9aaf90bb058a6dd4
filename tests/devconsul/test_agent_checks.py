"""Agent check endpoints, TTL checks, maintenance modes, self and members."""

from __future__ import annotations

from typing import Any

from consul import Check

from tests.devconsul.conftest import Api
from tests.helpers import wait_for


def test_check_register_for_a_service_and_for_the_node(client: Any, api: Api) -> None:
    """/agent/check/register adds a service check (id defaults to the name) or a node check,
    which every service's health entry then carries."""
    api.register({"Name": "r", "ID": "r1", "Check": {"TTL": "30s", "Status": "passing"}})
    assert client.agent.check.register("extra", check=Check.ttl("30s"), service_id="r1")
    assert client.agent.check.register("disk", check={**Check.ttl("30s"), "Status": "warning"})
    checks = client.agent.checks()
    assert checks["extra"]["ServiceID"] == "r1" and checks["extra"]["ServiceName"] == "r"
    assert (checks["disk"]["ServiceID"], checks["disk"]["Status"]) == ("", "warning")
    entry = client.health.service("r")[1][0]
    assert [c["CheckID"] for c in entry["Checks"]] == ["disk", "serfHealth", "extra", "service:r1"]
    assert client.agent.check.deregister("extra")
    assert "extra" not in client.agent.checks()


def test_check_register_errors(api: Api) -> None:
    """Missing name, a bad status, a bad definition and an unknown ServiceID answer as Consul."""
    cases = [
        ({"TTL": "1s"}, 400, "Missing check name"),
        ({"Name": "c", "TTL": "1s", "Status": "odd"}, 400, "Bad check status"),
        ({"Name": "c"}, 400, "Invalid check: TTL must be > 0 for TTL checks"),
        ({"Name": "c", "TTL": "1s", "ServiceID": "nope"}, 404, 'ServiceID "nope" does not exist'),
        (
            {"Name": "c", "TTL": "1s", "Bogus": 1},
            400,
            'Request decode failed: json: unknown field "Bogus"',
        ),
    ]
    for body, status, text in cases:
        response = api.put("/v1/agent/check/register", json=body)
        assert (response.status_code, response.text) == (status, text), body
    missing = api.put("/v1/agent/check/deregister/nope")
    assert missing.status_code == 404
    assert missing.text == (
        'Unknown check ID "nope". Ensure that the check ID is passed, not the check name.'
    )


def test_ttl_updates_set_status_and_output(client: Any, api: Api) -> None:
    """pass/warn/fail take ?note= as the output; update takes {Status, Output}."""
    api.register({"Name": "t", "ID": "t1", "Check": {"TTL": "30s"}})
    for call, status in (
        (client.agent.check.ttl_pass, "passing"),
        (client.agent.check.ttl_warn, "warning"),
        (client.agent.check.ttl_fail, "critical"),
    ):
        assert call("service:t1", notes=f"now {status}")
        check = client.agent.checks()["service:t1"]
        assert (check["Status"], check["Output"]) == (status, f"now {status}")
    update = api.put(
        "/v1/agent/check/update/service:t1", json={"Status": "passing", "Output": "via update"}
    )
    assert (update.status_code, update.content) == (200, b"")
    check = client.agent.checks()["service:t1"]
    assert (check["Status"], check["Output"]) == ("passing", "via update")


def test_ttl_update_errors(client: Any, api: Api) -> None:
    """A bad status is a 400, an unknown check a 404 (False through py-consul), and a check
    that is not a TTL check a 500 with Consul's text."""
    api.register({"Name": "t", "ID": "t1", "Check": {"TTL": "30s"}})
    bad = api.put("/v1/agent/check/update/service:t1", json={"Status": "odd"})
    assert (bad.status_code, bad.text) == (400, "Invalid check status: 'odd'")
    unknown = api.put("/v1/agent/check/pass/nope")
    assert unknown.status_code == 404 and unknown.text.startswith('Unknown check ID "nope"')
    assert client.agent.check.ttl_pass("nope") is False
    api.register({"Name": "p", "ID": "p1", "Check": {"TCP": "127.0.0.1:9", "Interval": "1h"}})
    not_ttl = api.put("/v1/agent/check/pass/service:p1")
    assert (not_ttl.status_code, not_ttl.text) == (
        500,
        'CheckID "service:p1" does not have associated TTL',
    )


def test_ttl_expiry_and_recovery(client: Any, api: Api) -> None:
    """Without updates a TTL check turns critical with "TTL expired" (quoting the last output
    when there was one) and a pass brings it back."""
    api.register({"Name": "t", "ID": "t1", "Check": {"TTL": "300ms", "Status": "passing"}})
    assert client.agent.checks()["service:t1"]["Status"] == "passing"
    wait_for(
        lambda: client.agent.checks()["service:t1"]["Status"] == "critical", 3, message="expiry"
    )
    assert client.agent.checks()["service:t1"]["Output"] == "TTL expired"
    assert client.agent.check.ttl_pass("service:t1", notes="back")
    assert client.health.service("t", passing=True)[1] != []
    wait_for(
        lambda: client.agent.checks()["service:t1"]["Status"] == "critical", 3, message="expiry"
    )
    assert client.agent.checks()["service:t1"]["Output"] == (
        "TTL expired (last output before timeout follows): back"
    )
    assert client.health.service("t")[1][0]["Checks"][1]["Output"].startswith("TTL expired")


def test_output_only_changes_reach_the_catalog_later(client: Any, api: Api) -> None:
    """An update that changes only the output is seen by the agent at once, but the catalog
    (health endpoints) keeps the old output: Consul defers it by check_update_interval."""
    api.register({"Name": "o", "ID": "o1", "Check": {"TTL": "30s"}})
    assert client.agent.check.ttl_pass("service:o1", notes="first")
    index = api.index("/v1/health/service/o")
    assert client.agent.check.ttl_pass("service:o1", notes="second")
    assert client.agent.checks()["service:o1"]["Output"] == "second"
    assert client.health.service("o")[1][0]["Checks"][1]["Output"] == "first"
    assert api.index("/v1/health/service/o") == index
    assert client.agent.check.ttl_warn("service:o1", notes="third")
    assert client.health.service("o")[1][0]["Checks"][1]["Output"] == "third"


def test_output_is_truncated_as_consul_does(api: Api) -> None:
    """Output past OutputMaxSize (default 4096) is cut with a "captured N of M bytes" note."""
    api.register({"Name": "big", "ID": "b1", "Check": {"TTL": "30s", "OutputMaxSize": 10}})
    api.put("/v1/agent/check/update/service:b1", json={"Status": "passing", "Output": "x" * 25})
    output = api.get("/v1/agent/checks").json()["service:b1"]["Output"]
    assert output == "xxxxxxxxxx ... (captured 10 of 25 bytes)"


def test_service_maintenance(client: Any, api: Api) -> None:
    """Maintenance adds the critical _service_maintenance:<id> check with Consul's default
    note (or the reason); disabling removes it; it is idempotent."""
    api.register({"Name": "m", "ID": "m1", "Check": {"TTL": "30s", "Status": "passing"}})
    assert client.agent.service.maintenance("m1", True)
    assert client.agent.service.maintenance("m1", True)
    check = client.agent.checks()["_service_maintenance:m1"]
    assert (check["Name"], check["Status"], check["Type"]) == (
        "Service Maintenance Mode",
        "critical",
        "maintenance",
    )
    assert check["Notes"] == (
        "Maintenance mode is enabled for this service, but no reason was provided. "
        "This is a default message."
    )
    assert client.health.service("m", passing=True)[1] == []
    assert client.agent.service.maintenance("m1", False)
    assert "_service_maintenance:m1" not in client.agent.checks()
    assert len(client.health.service("m", passing=True)[1]) == 1
    assert api.put("/v1/agent/service/maintenance/m1", enable="true", reason="deploy").ok
    assert client.agent.checks()["_service_maintenance:m1"]["Notes"] == "deploy"


def test_maintenance_errors(api: Api) -> None:
    """Missing or unparsable enable, a missing id and an unknown service answer as Consul."""
    api.register({"Name": "m", "ID": "m1"})
    cases = [
        ("/v1/agent/service/maintenance/m1", {}, 400, "Missing value for enable"),
        (
            "/v1/agent/service/maintenance/m1",
            {"enable": "maybe"},
            400,
            'Invalid value for enable: "maybe"',
        ),
        ("/v1/agent/service/maintenance/", {"enable": "true"}, 400, "Missing service ID"),
        ("/v1/agent/maintenance", {}, 400, "Missing value for enable"),
    ]
    for path, params, status, text in cases:
        response = api.put(path, **params)
        assert (response.status_code, response.text) == (status, text), path
    unknown = api.put("/v1/agent/service/maintenance/nope", enable="true")
    assert unknown.status_code == 404 and unknown.text.startswith('Unknown service ID "nope"')


def test_node_maintenance_takes_every_service_out(client: Any, api: Api) -> None:
    """_node_maintenance is a node check: every service on the node stops passing; a reason
    becomes its notes."""
    api.register({"Name": "a", "Check": {"TTL": "30s", "Status": "passing"}})
    api.register({"Name": "b", "Check": {"TTL": "30s", "Status": "passing"}})
    assert api.put("/v1/agent/maintenance", enable="1").ok
    check = client.agent.checks()["_node_maintenance"]
    assert (check["Name"], check["ServiceID"]) == ("Node Maintenance Mode", "")
    assert check["Notes"].startswith("Maintenance mode is enabled for this node")
    assert client.health.service("a", passing=True)[1] == []
    assert client.health.service("b", passing=True)[1] == []
    assert api.put("/v1/agent/maintenance", enable="false").ok
    assert len(client.health.service("a", passing=True)[1]) == 1
    assert api.put("/v1/agent/maintenance", enable="true", reason="upgrade").ok
    assert client.agent.checks()["_node_maintenance"]["Notes"] == "upgrade"


def test_self_and_members(client: Any, api: Api) -> None:
    """/agent/self and /agent/members describe one alive dev server."""
    me = client.agent.self()
    assert set(me) == {"Config", "DebugConfig", "Coord", "Member", "Stats", "Meta", "xDS"}
    assert (me["Config"]["NodeName"], me["Config"]["Datacenter"], me["Config"]["Server"]) == (
        "node1",
        "dc1",
        True,
    )
    members = client.agent.members()
    assert [(m["Name"], m["Status"], m["Tags"]["role"]) for m in members] == [
        ("node1", 1, "consul")
    ]
    assert "X-Consul-Index" not in api.get("/v1/agent/self").headers


def test_node_maintenance_through_py_consul(client: Any) -> None:
    """py-consul's agent.maintenance (PUT /v1/agent/maintenance, enable sent as "True" or
    "False") adds and removes _node_maintenance, with Consul's default note or the reason."""
    passing = {**Check.ttl("30s"), "Status": "passing"}
    assert client.agent.service.register("a", service_id="a1", check=passing)
    assert client.agent.maintenance(True) is True
    check = client.agent.checks()["_node_maintenance"]
    assert (check["Name"], check["Status"], check["Type"], check["ServiceID"]) == (
        "Node Maintenance Mode",
        "critical",
        "maintenance",
        "",
    )
    assert check["Notes"] == (
        "Maintenance mode is enabled for this node, but no reason was provided. "
        "This is a default message."
    )
    assert client.health.service("a", passing=True)[1] == []
    assert client.agent.maintenance(False) is True
    assert "_node_maintenance" not in client.agent.checks()
    assert len(client.health.service("a", passing=True)[1]) == 1
    assert client.agent.maintenance(True, reason="kernel upgrade") is True
    assert client.agent.checks()["_node_maintenance"]["Notes"] == "kernel upgrade"


def test_members_raw(api: Api) -> None:
    """GET /v1/agent/members answers 200 with a JSON list of the one serf member, with
    serf's fields, and no index header (it is not a catalog read)."""
    response = api.get("/v1/agent/members")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert "X-Consul-Index" not in response.headers
    members = response.json()
    assert isinstance(members, list) and len(members) == 1
    member = members[0]
    assert set(member) == {
        "Name",
        "Addr",
        "Port",
        "Tags",
        "Status",
        "ProtocolMin",
        "ProtocolMax",
        "ProtocolCur",
        "DelegateMin",
        "DelegateMax",
        "DelegateCur",
    }
    assert (member["Name"], member["Addr"], member["Port"], member["Status"]) == (
        "node1",
        "127.0.0.1",
        8301,
        1,
    )
    assert (member["Tags"]["role"], member["Tags"]["dc"]) == ("consul", "dc1")
    assert member["Tags"]["id"] == api.get("/v1/agent/self").json()["Config"]["NodeID"]
