"""Config entries: CRUD with cas, Consul's shapes, kinds and errors."""

from __future__ import annotations

from tests.devconsul.conftest import Api


def test_service_defaults_crud_with_cas(api: Api) -> None:
    """PUT creates (cas=0 only when absent), GET answers Consul's shape, cas guards writes and
    deletes; a missing entry is Consul's 404."""
    entry = {"Kind": "service-defaults", "Name": "web", "protocol": "HTTP"}
    assert api.put("/v1/config", json=entry, cas="0").json() is True
    assert api.put("/v1/config", json=entry, cas="0").json() is False
    got = api.get("/v1/config/service-defaults/web").json()
    assert got == {
        "Kind": "service-defaults",
        "Name": "web",
        "TransparentProxy": {},
        "MeshGateway": {},
        "Expose": {},
        "Protocol": "http",
        "CreateIndex": got["CreateIndex"],
        "ModifyIndex": got["ModifyIndex"],
    }
    stale = api.put("/v1/config", json=entry, cas=str(got["ModifyIndex"] + 1))
    assert stale.json() is False
    assert [e["Name"] for e in api.get("/v1/config/service-defaults").json()] == ["web"]
    assert api.delete("/v1/config/service-defaults/web", cas="1").json() is False
    assert api.delete("/v1/config/service-defaults/web").json() == {}
    missing = api.get("/v1/config/service-defaults/web")
    assert (missing.status_code, missing.text) == (
        404,
        'Config entry not found for "service-defaults" / "web"',
    )


def test_proxy_defaults_is_global_only(api: Api) -> None:
    """proxy-defaults takes the name "global" only."""
    bad = api.put("/v1/config", json={"Kind": "proxy-defaults", "Name": "x"})
    assert (bad.status_code, bad.text) == (500, 'invalid name ("x"), only "global" is supported')
    good = {"Kind": "proxy-defaults", "Name": "global", "Config": {"protocol": "http"}}
    assert api.put("/v1/config", json=good).json() is True
    assert api.get("/v1/config/proxy-defaults/global").json()["Config"] == {"protocol": "http"}


def test_discovery_chain_needs_an_http_protocol(api: Api) -> None:
    """A router or splitter of a tcp service is refused; with protocol http it is stored, and
    a resolver needs no protocol."""
    router = {"Kind": "service-router", "Name": "web", "Routes": [{"Match": {}}]}
    refused = api.put("/v1/config", json=router)
    assert refused.status_code == 500
    assert refused.text == (
        'discovery chain "web" uses a protocol "tcp" that does not permit advanced routing or '
        "splitting behavior"
    )
    api.put("/v1/config", json={"Kind": "service-defaults", "Name": "web", "Protocol": "http"})
    assert api.put("/v1/config", json=router).json() is True
    resolver = {"Kind": "service-resolver", "Name": "db", "connect_timeout": "5s"}
    assert api.put("/v1/config", json=resolver).json() is True
    assert api.get("/v1/config/service-resolver/db").json()["ConnectTimeout"] == "5s"


def test_decode_errors(api: Api) -> None:
    """A body without a kind, an unknown kind and an unknown field are 400s; listing an unknown
    kind is a 500; an empty kind lists null."""
    no_kind = api.put("/v1/config", json={"Name": "x"})
    assert no_kind.status_code == 400 and "does not contain a kind/Kind key" in no_kind.text
    assert api.put("/v1/config", json={"Kind": "nope", "Name": "x"}).status_code == 400
    extra = api.put("/v1/config", json={"Kind": "service-defaults", "Name": "x", "Foo": 1})
    assert extra.status_code == 400 and "'' has invalid keys: Foo" in extra.text
    unknown = api.get("/v1/config/nope")
    assert (unknown.status_code, unknown.text) == (500, "invalid config entry kind: nope")
    assert api.get("/v1/config/service-router").json() == []  # Consul 1.10.3: [], not null


def test_blocking_read_wakes_on_a_write(api: Api) -> None:
    """A blocking read of a kind returns when an entry is written."""
    index = api.index("/v1/config/service-defaults")
    watch = api.watch("/v1/config/service-defaults", index=index, wait="10s")
    api.wait_blocked(1)
    api.put("/v1/config", json={"Kind": "service-defaults", "Name": "a"})
    assert watch.wait(5) and watch.index > index
