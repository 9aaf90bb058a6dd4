"""Agent service endpoints: register, deregister, list, read; their shapes and errors."""

from __future__ import annotations

from typing import Any

import pytest
from consul import Check

from tests.devconsul.conftest import Api
from tests.helpers import scaled


def test_register_through_py_consul_lists_consuls_shapes(client: Any) -> None:
    """A service registered through py-consul is listed by the agent with Consul's fields."""
    assert client.agent.service.register(
        "web",
        service_id="web1",
        address="10.0.0.1",
        port=80,
        tags=["a", "b"],
        meta={"v": "1"},
        check=Check.ttl("10s"),
    )
    assert client.agent.services() == {
        "web1": {
            "ID": "web1",
            "Service": "web",
            "Tags": ["a", "b"],
            "Meta": {"v": "1"},
            "Port": 80,
            "Address": "10.0.0.1",
            "SocketPath": "",
            "TaggedAddresses": {
                "lan_ipv4": {"Address": "10.0.0.1", "Port": 80},
                "wan_ipv4": {"Address": "10.0.0.1", "Port": 80},
            },
            "Weights": {"Passing": 1, "Warning": 1},
            "EnableTagOverride": False,
            "Datacenter": "dc1",
        }
    }
    assert client.agent.checks() == {
        "service:web1": {
            "Node": "node1",
            "CheckID": "service:web1",
            "Name": "Service 'web' check",
            "Status": "critical",
            "Notes": "",
            "Output": "",
            "ServiceID": "web1",
            "ServiceName": "web",
            "ServiceTags": ["a", "b"],
            "Type": "ttl",
            "Interval": "",
            "Timeout": "",
            "ExposedPort": 0,
            "Definition": {},
            "CreateIndex": 0,
            "ModifyIndex": 0,
        }
    }


def test_service_without_address_has_no_tagged_addresses(api: Api) -> None:
    """Only an IP service address gets the lan/wan tagged addresses; the ID defaults to Name."""
    assert api.register({"Name": "plain", "Port": 5}).status_code == 200
    service = api.get("/v1/agent/services").json()["plain"]
    assert "TaggedAddresses" not in service and service["ID"] == "plain"
    assert api.register({"Name": "six", "Address": "::1", "Port": 6}).ok
    assert set(api.get("/v1/agent/services").json()["six"]["TaggedAddresses"]) == {
        "lan_ipv6",
        "wan_ipv6",
    }


def test_register_answers_an_empty_200(api: Api) -> None:
    """A successful agent write answers 200 with no body and no query meta."""
    response = api.register({"Name": "a"})
    assert (response.status_code, response.content) == (200, b"")
    assert "X-Consul-Index" not in response.headers
    assert response.headers["X-Consul-Default-ACL-Policy"] == "allow"


def test_json_keys_match_case_insensitively_and_snake_case(api: Api) -> None:
    """Lowercase and snake_case keys decode as Consul's Go decoder decodes them."""
    body = {
        "name": "api",
        "id": "api1",
        "PORT": 7,
        "enable_tag_override": True,
        "tagged_addresses": {"lan": {"address": "10.1.1.1", "port": 7}},
        "check": {"ttl": "5s", "deregister_critical_service_after": "2m", "status": "passing"},
    }
    assert api.register(body).status_code == 200
    service = api.get("/v1/agent/service/api1").json()
    assert service["EnableTagOverride"] is True and service["Port"] == 7
    assert service["TaggedAddresses"] == {"lan": {"Address": "10.1.1.1", "Port": 7}}
    assert api.get("/v1/agent/checks").json()["service:api1"]["Status"] == "passing"


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({"Name": "x", "Colour": "red"}, 'Request decode failed: json: unknown field "Colour"'),
        (
            {"Name": "x", "Check": {"TTL": "1s", "Speed": 1}},
            'Request decode failed: json: unknown field "Speed"',
        ),
        (
            {"Name": "x", "Port": "80"},
            "Request decode failed: json: cannot unmarshal string into Go struct field "
            "ServiceDefinition.Port of type int",
        ),
        (
            {"Name": "x", "Check": {"TTL": "ten"}},
            'Request decode failed: time: invalid duration "ten"',
        ),
        ({"Port": 1}, "Missing service name"),
        ({"Name": "x", "Address": "0.0.0.0"}, "Invalid service address"),
        (
            {"Name": "x", "Weights": {"Passing": 0, "Warning": 1}},
            "Invalid Weights: Passing must be greater than 0",
        ),
        (
            {"Name": "x", "Meta": {"consul-x": "1"}},
            "Invalid Service Meta: Couldn't load metadata pair ('consul-x', '1'): "
            "Key prefix 'consul-' is reserved for internal use",
        ),
        (
            {"Name": "x", "Check": {"TTL": "1s", "Interval": "1s"}},
            "Invalid check: Interval and TTL cannot both be specified",
        ),
        (
            {"Name": "x", "Check": {"HTTP": "http://127.0.0.1/"}},
            "Invalid check: Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or "
            "OSService checks",
        ),
        ({"Name": "x", "Check": {"Notes": "n"}}, "Invalid check: TTL must be > 0 for TTL checks"),
        (
            {"Name": "x", "Check": {"TTL": "1s", "Status": "fine"}},
            "Status for checks must 'passing', 'warning', 'critical'",
        ),
    ],
)
def test_bad_registrations_are_400s_with_consuls_texts(
    api: Api, body: dict[str, Any], text: str
) -> None:
    """Each refused registration answers 400 with Consul's plain-text reason."""
    response = api.register(body)
    assert (response.status_code, response.text) == (400, text)
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert api.get("/v1/agent/services").json() == {}


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"", "Request decode failed: EOF"),
        (b"null", "Missing service name"),
        (b'{"Name": ', "Request decode failed: unexpected EOF"),
        (b"nope", "Request decode failed: invalid character 'n' looking for beginning of value"),
        # Go's scanner says what it was looking for (texts of Consul 1.10.3, 2026-12-07)
        (
            b"{not json",
            "Request decode failed: invalid character 'n' looking for beginning of object key "
            "string",
        ),
        (b'{"Name" 1}', "Request decode failed: invalid character '1' after object key"),
        (
            b'{"Name":"a" x',
            "Request decode failed: invalid character 'x' after object key:value pair",
        ),
        (
            b'{"Tags":["a" "b"]}',
            "Request decode failed: invalid character '\"' after array element",
        ),
        (
            b"[1]",
            "Request decode failed: json: cannot unmarshal array into Go value of type "
            "structs.ServiceDefinition",
        ),
    ],
)
def test_undecodable_bodies(api: Api, data: bytes, text: str) -> None:
    """Empty, truncated, non-JSON and non-object bodies are 400s with Go's decoder errors."""
    response = api.put("/v1/agent/service/register", data=data)
    assert (response.status_code, response.text) == (400, text)


def test_script_checks_are_refused_as_on_an_agent_without_script_checks(api: Api) -> None:
    """A script check is a 500, since script checks are disabled by default; nothing stays."""
    response = api.register({"Name": "s", "Check": {"Args": ["true"], "Interval": "10s"}})
    assert response.status_code == 500
    assert response.text == (
        "Scripts are disabled on this agent from remote calls; to enable, configure "
        "'enable_script_checks' to true"
    )
    assert api.get("/v1/agent/services").json() == {}


def test_check_ids_one_several_and_given(client: Any, api: Api) -> None:
    """One check is service:<id>, several are service:<id>:1..n (py-consul's extra_checks),
    a given CheckID is kept; names default to "Service '<name>' check"."""
    assert client.agent.service.register(
        "db", service_id="db1", check=Check.ttl("5s"), extra_checks=[Check.ttl("6s")]
    )
    assert api.register({"Name": "q", "Checks": [{"TTL": "5s", "CheckID": "mine", "Name": "N"}]})
    checks = client.agent.checks()
    assert {"service:db1:1", "service:db1:2", "mine"} <= set(checks)
    assert checks["service:db1:2"]["Name"] == "Service 'db' check"
    assert checks["mine"]["Name"] == "N"
    assert client.agent.service.register("one", check=Check.ttl("5s"))
    assert "service:one" in client.agent.checks()


def test_deregister_removes_the_service_and_its_checks(client: Any, api: Api) -> None:
    """Deregistration drops the service and every check of it; an unknown id is a 404,
    which py-consul reports as False."""
    assert client.agent.service.register("gone", service_id="g1", check=Check.ttl("5s"))
    assert client.agent.service.maintenance("g1", True)
    assert client.agent.service.deregister("g1")
    assert client.agent.services() == {} and client.agent.checks() == {}
    assert client.health.service("gone")[1] == []
    missing = api.put("/v1/agent/service/deregister/nope")
    assert missing.status_code == 404
    assert missing.text == (
        'Unknown service ID "nope". Ensure that the service ID is passed, not the service name.'
    )
    assert client.agent.service.deregister("nope") is False
    assert api.put("/v1/agent/service/deregister/consul").status_code == 404


def test_read_one_service_with_its_content_hash(api: Api) -> None:
    """GET /v1/agent/service/:id answers the service with ContentHash (body and header);
    an unknown id is a 404 with Consul's text."""
    api.register({"Name": "h", "ID": "h1", "Port": 1})
    response = api.get("/v1/agent/service/h1")
    body = response.json()
    assert body["ID"] == "h1" and body["ContentHash"]
    assert response.headers["X-Consul-ContentHash"] == body["ContentHash"]
    missing = api.get("/v1/agent/service/nope")
    assert (missing.status_code, missing.text) == (404, "unknown service ID: nope")


def test_hash_blocking_waits_while_the_hash_stays(api: Api) -> None:
    """With ?hash= the read waits while the content hash is unchanged and returns at once
    when the service changes."""
    api.register({"Name": "h", "ID": "h1", "Port": 1})
    content = api.get("/v1/agent/service/h1").json()["ContentHash"]
    unchanged = api.watch("/v1/agent/service/h1", hash=content, wait="300ms")
    assert unchanged.wait(5) and unchanged.elapsed >= 0.3
    changing = api.watch("/v1/agent/service/h1", hash=content, wait="10s")
    api.wait_blocked(1)
    assert not changing.wait(0.3)
    api.register({"Name": "h", "ID": "h1", "Port": 2})
    assert changing.wait(1)
    assert changing.response is not None and changing.response.json()["Port"] == 2


def test_reregistering_keeps_check_state_and_identical_is_a_no_op(client: Any, api: Api) -> None:
    """Re-registering keeps a check's status; an identical registration moves no index."""
    body = {"Name": "r", "ID": "r1", "Check": {"TTL": "30s"}}
    api.register(body)
    assert client.agent.check.ttl_pass("service:r1")
    index = api.index("/v1/health/service/r")
    api.register(body)
    assert api.index("/v1/health/service/r") == index
    assert client.agent.checks()["service:r1"]["Status"] == "passing"
    api.register({**body, "Tags": ["new"]})
    assert api.index("/v1/health/service/r") > index
    assert client.health.service("r")[1][0]["Checks"][1]["ServiceTags"] == ["new"]


def test_replace_existing_checks(api: Api) -> None:
    """?replace-existing-checks drops the service's checks not in the request."""
    api.register({"Name": "x", "Checks": [{"TTL": "5s"}, {"TTL": "6s"}]})
    api.register({"Name": "x", "Check": {"TTL": "5s", "CheckID": "only"}})
    assert {"service:x:1", "service:x:2", "only"} <= set(api.get("/v1/agent/checks").json())
    api.register(
        {"Name": "x", "Check": {"TTL": "5s", "CheckID": "only"}},
        **{"replace-existing-checks": "true"},
    )
    assert set(api.get("/v1/agent/checks").json()) == {"only"}


def test_service_definition_through_py_consul(client: Any, api: Api) -> None:
    """py-consul's agent.service_definition reads GET /v1/agent/service/:id: the listed
    service plus its ContentHash; an unknown id (a 404) comes back as None."""
    assert client.agent.service.register("d", service_id="d1", port=3, tags=["t"], meta={"k": "v"})
    definition = client.agent.service_definition("d1")
    content_hash = api.get("/v1/agent/service/d1").headers["X-Consul-ContentHash"]
    assert definition == {**client.agent.services()["d1"], "ContentHash": content_hash}
    assert (definition["Service"], definition["Port"], definition["Tags"]) == ("d", 3, ["t"])
    assert client.agent.service.register("d", service_id="d1", port=4)
    changed = client.agent.service_definition("d1")
    assert changed["Port"] == 4 and changed["ContentHash"] != content_hash
    assert client.agent.service_definition("nope") is None


def test_sidecar_service_and_connect_reads_as_with_connect_off(api: Api) -> None:
    """As Consul 1.10.3 with `connect { enabled = false }` (2026-12-07): a SidecarService
    registers `<id>-sidecar-proxy` (port 21000, two checks) and goes with its service;
    catalog/connect and health/connect list that proxy, health/ingress nothing."""
    for path in ("/v1/catalog/connect/web", "/v1/health/connect/web", "/v1/health/ingress/web"):
        empty = api.get(path)
        assert (empty.status_code, empty.json()) == (200, []), path
        assert "X-Consul-Index" in empty.headers, path
    assert api.register({"Name": "web", "connect": {"sidecar_service": {}}}).status_code == 200
    proxy = api.get("/v1/agent/services").json()["web-sidecar-proxy"]
    assert (proxy["Kind"], proxy["Service"], proxy["Port"]) == (
        "connect-proxy",
        "web-sidecar-proxy",
        21000,
    )
    assert proxy["Proxy"]["DestinationServiceName"] == "web"
    checks = api.get("/v1/agent/checks").json()
    assert sorted(c["Name"] for c in checks.values()) == [
        "Connect Sidecar Aliasing web",
        "Connect Sidecar Listening",
    ]
    [listed] = api.get("/v1/catalog/connect/web").json()
    assert listed["ServiceID"] == "web-sidecar-proxy"
    [entry] = api.get("/v1/health/connect/web").json()
    assert entry["Service"]["ID"] == "web-sidecar-proxy"
    assert api.get("/v1/health/ingress/web").json() == []
    assert api.put("/v1/agent/service/deregister/web").status_code == 200
    assert api.get("/v1/agent/services").json() == {}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/discovery-chain/web"),
        ("POST", "/v1/discovery-chain/web"),
        ("GET", "/v1/connect/ca/roots"),
        ("GET", "/v1/connect/intentions"),
        ("GET", "/v1/agent/connect/ca/leaf/web"),
    ],
)
def test_connect_only_endpoints_answer_as_with_connect_off(
    api: Api, method: str, path: str
) -> None:
    """Consul 1.10.3 with `connect { enabled = false }` (2026-12-07)."""
    response = api.http.request(method, api.url + path, timeout=scaled(5))
    assert (response.status_code, response.text) == (
        500,
        "Connect must be enabled in order to use this endpoint",
    )
