"""Sessions and locks: creation rules, reads, renew, destroy, invalidation, lock delay."""

from __future__ import annotations

import json
import time
from typing import Any

import consul
import pytest
from consul.callback import CB

from pilot.devconsul.server import DevConsul
from tests.devconsul.conftest import Api
from tests.helpers import scaled, wait_for


def test_create_with_defaults_and_read_it_back(client: Any, api: Api) -> None:
    """A session gets the agent's node, serfHealth, a 15 s lock delay and `release`;
    info, list and node read it; an unknown id reads as [] (None through py-consul)."""
    sid = client.session.create(name="s", ttl=15)
    index, info = client.session.info(sid)
    assert info == {
        "ID": sid,
        "Name": "s",
        "Node": "node1",
        "LockDelay": 15_000_000_000,
        "Behavior": "release",
        "TTL": "15s",
        "NodeChecks": ["serfHealth"],
        "ServiceChecks": None,
        "CreateIndex": int(index),
        "ModifyIndex": int(index),
    }
    assert [s["ID"] for s in client.session.list()[1]] == [sid]
    assert [s["ID"] for s in client.session.node("node1")[1]] == [sid]
    assert client.session.node("elsewhere")[1] == []
    assert client.session.info("3f0dcdc4-5c4b-47a7-9bbd-6e6c9e4ec7a5")[1] is None
    unknown = api.get("/v1/session/info/3f0dcdc4-5c4b-47a7-9bbd-6e6c9e4ec7a5")
    assert (unknown.status_code, unknown.json()) == (200, [])


def test_create_without_a_body(api: Api) -> None:
    """The body is optional: PUT with none creates a default session."""
    response = api.put("/v1/session/create")
    assert response.status_code == 200 and set(response.json()) == {"ID"}


def test_renew_and_destroy(client: Any, api: Api) -> None:
    """renew answers [session]; destroy answers true, for unknown ids too; renewing an
    unknown session is a 404 with Consul's text."""
    sid = client.session.create(ttl=10)
    renewed = api.put(f"/v1/session/renew/{sid}").json()
    assert [s["ID"] for s in renewed] == [sid] and client.session.renew(sid)["TTL"] == "10s"
    assert client.session.destroy(sid) is True
    assert api.put("/v1/session/destroy/nope").json() is True
    missing = api.put(f"/v1/session/renew/{sid}")
    assert (missing.status_code, missing.text) == (404, f"Session id '{sid}' not found")


@pytest.mark.parametrize(
    ("lock_delay", "nanoseconds"),
    [
        (15, 15_000_000_000),
        ("20ns", 20_000_000_000),
        ("5s", 5_000_000_000),
        (2_000_000_000, 2_000_000_000),
        ("0s", 0),
    ],
)
def test_lock_delay_numbers_below_1000_are_seconds(
    api: Api, lock_delay: Any, nanoseconds: int
) -> None:
    """LockDelay is a duration or nanoseconds, but anything below 1000 counts as seconds."""
    sid = api.put("/v1/session/create", json={"LockDelay": lock_delay}).json()["ID"]
    assert api.get(f"/v1/session/info/{sid}").json()[0]["LockDelay"] == nanoseconds


def test_create_errors(api: Api) -> None:
    """Bad TTLs, behaviors, nodes and checks are refused with Consul's statuses and texts."""
    api.register({"Name": "w", "ID": "w1", "Check": {"TTL": "30s"}})
    cases = [
        ({"TTL": "5s"}, 500, "Invalid Session TTL '5000000000', must be between [10s=24h0m0s]"),
        (
            {"TTL": "25h"},
            500,
            "Invalid Session TTL '90000000000000', must be between [10s=24h0m0s]",
        ),
        ({"TTL": "x"}, 500, "Session TTL 'x' invalid: time: invalid duration \"x\""),
        ({"Behavior": "keep"}, 500, "Invalid Behavior setting 'keep'"),
        ({"Node": "elsewhere"}, 500, "apply failed: Missing node registration"),
        ({"NodeChecks": ["nope"]}, 500, "apply failed: Missing check 'nope' registration"),
        (
            {"ServiceChecks": [{"ID": "service:w1"}]},
            500,
            "apply failed: Check 'service:w1' is in critical state",
        ),
        ({"Color": "red"}, 400, 'Request decode failed: json: unknown field "Color"'),
    ]
    for body, status, text in cases:
        response = api.put("/v1/session/create", json=body)
        assert (response.status_code, response.text) == (status, text), body
    assert api.get("/v1/session/list").json() == []


def test_create_errors_through_py_consul(client: Any) -> None:
    """py-consul raises ConsulException with Consul's 500 text for a refused session; its
    own session.create checks the TTL range client-side, so the server's TTL refusal is
    reached through py-consul's HTTP layer with the body session.create would send."""
    cases = [
        ({"node": "elsewhere"}, "500 apply failed: Missing node registration"),
        ({"checks": ["nope"]}, "500 apply failed: Missing check 'nope' registration"),
    ]
    for kwargs, text in cases:
        with pytest.raises(consul.ConsulException) as raised:
            client.session.create(**kwargs)
        assert str(raised.value) == text, kwargs
    with pytest.raises(AssertionError):
        client.session.create(ttl=5)
    for ttl, nanoseconds in (("5s", "5000000000"), ("86401s", "86401000000000")):
        with pytest.raises(consul.ConsulException) as raised:
            client.http.put(
                CB.json(is_id=True), "/v1/session/create", data=json.dumps({"ttl": ttl})
            )
        assert str(raised.value) == (
            f"500 Invalid Session TTL '{nanoseconds}', must be between [10s=24h0m0s]"
        )
    assert client.session.list()[1] == []


def test_checks_field_as_consul_fixes_it_up(client: Any, api: Api) -> None:
    """`Checks: []` means no checks at all; py-consul's `checks=[...]` adds to serfHealth."""
    api.put("/v1/agent/check/register", json={"Name": "disk", "TTL": "30s", "Status": "passing"})
    none = api.put("/v1/session/create", json={"Checks": []}).json()["ID"]
    info = client.session.info(none)[1]
    assert info["NodeChecks"] == [] and "Checks" not in info
    both = client.session.create(checks=["disk"])
    info = client.session.info(both)[1]
    assert (info["Checks"], info["NodeChecks"]) == (["disk"], ["serfHealth"])


def test_two_sessions_contend_for_a_lock(client: Any) -> None:
    """The first acquire wins; the other session is refused; the holder can rewrite the
    value keeping LockIndex; a plain PUT keeps the holder but resets LockIndex, as Consul's
    state store does; release by a non-holder fails, by the holder succeeds."""
    first = client.session.create(lock_delay=0)
    second = client.session.create(lock_delay=0)
    assert client.kv.put("lock", "first", acquire=first)
    assert not client.kv.put("lock", "second", acquire=second)
    assert client.kv.put("lock", "again", acquire=first)
    item = client.kv.get("lock")[1]
    assert (item["Session"], item["LockIndex"], item["Value"]) == (first, 1, b"again")
    assert client.kv.put("lock", "plain")
    item = client.kv.get("lock")[1]
    assert (item["Session"], item["LockIndex"], item["Value"]) == (first, 0, b"plain")
    assert not client.kv.put("lock", "x", release=second)
    assert not client.kv.put("missing", "x", release=first)
    assert client.kv.put("lock", "released", release=first)
    item = client.kv.get("lock")[1]
    assert "Session" not in item and item["Value"] == b"released"
    assert client.kv.put("lock", "second", acquire=second)
    assert client.kv.get("lock")[1]["LockIndex"] == 1


def test_destroyed_holder_releases_under_its_lock_delay(client: Any) -> None:
    """Destroying the holder releases its keys at once, but acquire is refused until the
    session's 1 s lock delay has passed (not a shorter one), then granted soon after."""
    holder = client.session.create(lock_delay=1)
    other = client.session.create(lock_delay=0)
    assert client.kv.put("lead", "me", acquire=holder)
    before_destroy = time.monotonic()
    client.session.destroy(holder)
    after_destroy = time.monotonic()
    item = client.kv.get("lead")[1]
    assert "Session" not in item and item["Value"] == b"me" and item["LockIndex"] == 1
    assert not client.kv.put("lead", "other", acquire=other), "refused in the lock delay"

    def granted_at() -> float | None:
        return time.monotonic() if client.kv.put("lead", "other", acquire=other) else None

    granted = wait_for(granted_at, 4, message="acquired after the delay")
    assert granted - before_destroy >= 0.9, "granted before the 1 s lock delay was over"
    assert granted - after_destroy <= 1 + scaled(1.5), "granted long after the lock delay"
    item = client.kv.get("lead")[1]
    assert (item["Session"], item["LockIndex"], item["Value"]) == (other, 2, b"other")


def test_delete_behavior_deletes_held_keys(client: Any, api: Api) -> None:
    """A `delete` session takes its keys with it."""
    sid = api.put("/v1/session/create", json={"Behavior": "delete", "LockDelay": 0}).json()["ID"]
    assert client.kv.put("ephemeral", "x", acquire=sid)
    client.session.destroy(sid)
    assert client.kv.get("ephemeral")[1] is None


def test_a_critical_or_removed_check_invalidates_its_sessions(client: Any, api: Api) -> None:
    """A session linked to a check ends when that check turns critical or is deregistered;
    its lock is released."""
    api.register({"Name": "w", "ID": "w1", "Check": {"TTL": "30s", "Status": "passing"}})
    api.put("/v1/agent/check/register", json={"Name": "disk", "TTL": "30s", "Status": "passing"})
    linked = api.put(
        "/v1/session/create", json={"ServiceChecks": [{"ID": "service:w1"}], "LockDelay": 0}
    ).json()["ID"]
    by_node_check = api.put(
        "/v1/session/create", json={"NodeChecks": ["serfHealth", "disk"]}
    ).json()["ID"]
    assert client.kv.put("held", "x", acquire=linked)
    assert client.agent.check.ttl_warn("service:w1")
    assert client.session.info(linked)[1] is not None, "warning does not invalidate"
    assert client.agent.check.ttl_fail("service:w1")
    assert client.session.info(linked)[1] is None
    assert "Session" not in client.kv.get("held")[1]
    assert client.agent.check.deregister("disk")
    assert client.session.info(by_node_check)[1] is None


def test_blocking_session_reads(api: Api) -> None:
    """session/list wakes on a new session; session/info wakes when its session ends."""
    index = api.index("/v1/session/list")
    listing = api.watch("/v1/session/list", index=index, wait="10s")
    api.wait_blocked(1)
    sid = api.put("/v1/session/create").json()["ID"]
    assert listing.wait(1) and [s["ID"] for s in listing.response.json()] == [sid]  # type: ignore[union-attr]
    index = api.index(f"/v1/session/info/{sid}")
    info = api.watch(f"/v1/session/info/{sid}", index=index, wait="10s")
    api.wait_blocked(1)
    api.put(f"/v1/session/destroy/{sid}")
    assert info.wait(1) and info.response is not None and info.response.json() == []


@pytest.mark.slow
def test_a_session_expires_at_twice_its_ttl(client: Any) -> None:
    """A 10 s session that is not renewed lives past 10 s and ends near 20 s (TTL x 2); its
    lock is released. A renew restarts that clock."""
    renewed = client.session.create(ttl=10, lock_delay=0)
    lapsing = client.session.create(ttl=10, lock_delay=0)
    assert client.kv.put("ttl-lock", "x", acquire=lapsing)
    created = time.monotonic()
    wait_for(lambda: time.monotonic() - created > 5, 6, message="5 s")
    client.session.renew(renewed)
    wait_for(lambda: time.monotonic() - created > 11, 7, message="past the TTL")
    assert client.session.info(lapsing)[1] is not None, "alive between TTL and 2 x TTL"
    wait_for(lambda: client.session.info(lapsing)[1] is None, 12, message="expiry")
    assert 19 < time.monotonic() - created < 19 + scaled(3)
    assert "Session" not in client.kv.get("ttl-lock")[1]
    assert client.session.info(renewed)[1] is not None, "renewed at 5 s: lives until 25 s"


def test_lock_delay_is_capped_at_60_seconds(dev: DevConsul, client: Any) -> None:
    """However long a session's LockDelay, its released keys wait at most 60 s."""
    sid = client.session.create(lock_delay=3600)
    assert client.kv.put("capped", "x", acquire=sid)
    before = time.monotonic()
    client.session.destroy(sid)
    after = time.monotonic()
    assert before + 60 <= dev.registry.kv.lock_delays["capped"] <= after + 60


def test_deregistering_a_node_ends_its_sessions(client: Any, api: Api) -> None:
    """Sessions live on a node: when the node leaves the catalog, they are invalidated."""
    api.put(
        "/v1/catalog/register",
        json={"Node": "ext", "Address": "10.0.0.9", "Check": {"Name": "up", "Status": "passing"}},
    )
    sid = api.put("/v1/session/create", json={"Node": "ext", "NodeChecks": ["up"]}).json()["ID"]
    assert [s["ID"] for s in client.session.node("ext")[1]] == [sid]
    api.put("/v1/catalog/deregister", json={"Node": "ext"})
    assert client.session.info(sid)[1] is None
