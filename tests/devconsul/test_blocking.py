"""Blocking queries as Consul runs them: per-resource indexes, a wake-up on a change of what
is watched and on nothing else, and the full wait for an equal or future index."""

from __future__ import annotations

import threading

import pytest

from pilot.devconsul.routes.blocking import Result, block
from pilot.devconsul.routes.request import Request
from pilot.devconsul.state.errors import ConsulError
from pilot.devconsul.state.store import Store, Watch
from tests.devconsul.conftest import Api
from tests.helpers import scaled, wait_for


def test_watch_on_a_wakes_on_a_change_to_a_and_not_to_b(api: Api) -> None:
    """A blocking query on service A returns after a change to A, not after one to B."""
    api.register({"Name": "a", "ID": "a1"})
    api.register({"Name": "b", "ID": "b1"})
    index = api.index("/v1/health/service/a")
    watch = api.watch("/v1/health/service/a", index=index, wait="10s")
    api.wait_blocked(1)
    api.register({"Name": "b", "ID": "b2"})
    assert not watch.wait(0.5), "woken by a change to another service"
    api.register({"Name": "a", "ID": "a2"})
    assert watch.wait(1)
    assert watch.index > index and len(watch.response.json()) == 2  # type: ignore[union-attr]


def test_hundred_watchers_wake_on_one_change(api: Api) -> None:
    """100 concurrent blocked queries all return after one change."""
    api.register({"Name": "many", "ID": "m1"})
    index = api.index("/v1/health/service/many")
    watches = [api.watch("/v1/health/service/many", index=index, wait="30s") for _ in range(100)]
    api.wait_blocked(100)
    api.register({"Name": "many", "ID": "m2"})
    assert all(w.wait(2) for w in watches)
    assert {w.index for w in watches} == {api.index("/v1/health/service/many")}


def test_equal_and_future_indexes_wait_for_the_wait(api: Api) -> None:
    """An equal or a future index waits the whole `wait` (plus at most wait/16) and answers
    the current index."""
    api.register({"Name": "f", "ID": "f1"})
    index = api.index("/v1/health/service/f")
    for asked in (index, index + 1000):
        watch = api.watch("/v1/health/service/f", index=asked, wait="400ms")
        assert watch.wait(5)
        assert 0.4 <= watch.elapsed < 0.4 + 0.4 / 16 + scaled(0.5)
        assert watch.index == index


def test_lower_or_zero_index_answers_at_once(api: Api) -> None:
    """An index below the current one, or index=0, answers without waiting."""
    api.register({"Name": "l", "ID": "l1"})
    index = api.index("/v1/health/service/l")
    for asked in (index - 1, 0):
        watch = api.watch("/v1/health/service/l", index=asked, wait="10s")
        assert watch.wait(1)


def test_catalog_services_ignores_check_changes(api: Api) -> None:
    """catalog/services watches the services table: a check's status change does not wake
    it, a new service does."""
    api.register({"Name": "s", "ID": "s1", "Check": {"TTL": "30s"}})
    index = api.index("/v1/catalog/services")
    watch = api.watch("/v1/catalog/services", index=index, wait="10s")
    api.wait_blocked(1)
    api.put("/v1/agent/check/pass/service:s1")
    assert not watch.wait(0.5), "woken by a check update"
    api.register({"Name": "t"})
    assert watch.wait(1) and "t" in watch.response.json()  # type: ignore[union-attr]


def test_health_watch_wakes_on_status_but_not_on_output(api: Api) -> None:
    """A health watch wakes on a check's status change; an output-only update does not move
    the catalog (it is deferred, as in Consul), so the watch sleeps on."""
    api.register({"Name": "h", "ID": "h1", "Check": {"TTL": "30s", "Status": "passing"}})
    index = api.index("/v1/health/service/h")
    watch = api.watch("/v1/health/service/h", index=index, wait="10s", passing="")
    api.wait_blocked(1)
    api.put("/v1/agent/check/pass/service:h1", note="output only")
    assert not watch.wait(0.5), "woken by an output-only update"
    api.put("/v1/agent/check/fail/service:h1")
    assert watch.wait(1)
    assert watch.response is not None and watch.response.json() == []


def test_node_checks_wake_every_service_on_the_node(api: Api) -> None:
    """A node-level check belongs to every instance's health, so it wakes their watches."""
    api.register({"Name": "n", "ID": "n1"})
    index = api.index("/v1/health/service/n")
    watch = api.watch("/v1/health/service/n", index=index, wait="10s")
    api.wait_blocked(1)
    api.put("/v1/agent/maintenance", enable="true")
    assert watch.wait(1) and watch.index > index


def test_catalog_reads_block_on_their_own_tables(api: Api) -> None:
    """catalog/nodes wakes on a new node, catalog/service/x on a new instance of x."""
    nodes_index = api.index("/v1/catalog/nodes")
    service_index = api.index("/v1/catalog/service/x")
    nodes = api.watch("/v1/catalog/nodes", index=nodes_index, wait="10s")
    service = api.watch("/v1/catalog/service/x", index=service_index, wait="10s")
    api.wait_blocked(2)
    api.register({"Name": "y"})
    assert not nodes.wait(0.5) and not service.wait(0), "woken by another service"
    api.put("/v1/catalog/register", json={"Node": "ext", "Address": "10.0.0.2"})
    assert nodes.wait(1) and not service.wait(0)
    api.register({"Name": "x"})
    assert service.wait(1) and service.response is not None
    assert [s["ServiceID"] for s in service.response.json()] == ["x"]


def test_health_checks_watch_sleeps_through_other_services_checks(api: Api) -> None:
    """health/checks/:service wakes on its service's checks only, though its index is the
    checks table's (so it moves with any check)."""
    api.register({"Name": "mine", "Check": {"TTL": "30s"}})
    api.register({"Name": "theirs", "Check": {"TTL": "30s"}})
    index = api.index("/v1/health/checks/mine")
    watch = api.watch("/v1/health/checks/mine", index=index, wait="10s")
    api.wait_blocked(1)
    api.put("/v1/agent/check/pass/service:theirs")
    assert not watch.wait(0.5), "woken by another service's check"
    assert api.index("/v1/health/checks/mine") > index
    api.put("/v1/agent/check/pass/service:mine")
    assert watch.wait(1)


def test_watchers_sharing_an_answer_see_each_write(api: Api) -> None:
    """Watchers of one query woken together share one answer, and it is never served after
    the next write: each of two successive changes is seen by the watchers of that moment,
    with and without ?passing."""
    api.register({"Name": "s", "ID": "s1", "Check": {"TTL": "30s"}})
    for status, expected in (("pass", 1), ("fail", 0)):
        index = api.index("/v1/health/service/s")
        watches = [
            api.watch("/v1/health/service/s", index=index, wait="10s", passing=passing)
            for passing in ("1", "1", "0")
        ]
        api.wait_blocked(3)
        api.put(f"/v1/agent/check/{status}/service:s1")
        assert all(w.wait(5) for w in watches)
        bodies = [w.response.json() for w in watches]  # type: ignore[union-attr]
        assert [len(b) for b in bodies] == [expected, expected, 1]
        assert api.get("/v1/health/service/s", passing="1").json() == bodies[0]


def test_a_write_is_seen_by_earlier_queries_and_not_by_later_ones(api: Api) -> None:
    """A query blocked before a write returns with it; one started after it, at the index it
    produced, does not report it as a change and waits for the next write."""
    api.register({"Name": "o", "ID": "o1"})
    before = api.index("/v1/health/service/o")
    early = api.watch("/v1/health/service/o", index=before, wait="10s")
    api.wait_blocked(1)
    api.register({"Name": "o", "ID": "o2"})
    assert early.wait(5) and early.index > before
    assert len(early.response.json()) == 2  # type: ignore[union-attr]
    late = api.watch("/v1/health/service/o", index=early.index, wait="10s")
    api.wait_blocked(1)
    assert not late.wait(0.3), "a later query reported an earlier write"
    api.register({"Name": "o", "ID": "o3"})
    assert late.wait(5) and late.index > early.index
    assert len(late.response.json()) == 3  # type: ignore[union-attr]


def test_a_failing_query_leaves_the_lock_free() -> None:
    """A query that raises, first or after a wake-up, releases the store's lock."""
    store = Store()

    def failing() -> Result:
        raise ConsulError(500, "broken")

    for params in ({}, {"index": ["1"], "wait": ["1s"]}):
        with pytest.raises(ConsulError):
            block(store, Request("GET", "/v1/x", params, b""), failing)
        assert store.lock.acquire(timeout=scaled(1)), "the lock was left held"
        store.lock.release()
    calls: list[int] = []

    def fails_after_a_wake() -> Result:
        calls.append(1)
        if len(calls) > 1:
            raise ConsulError(500, "broken")
        return Result(1, [], Watch(frozenset({"t"})))

    def write_once_blocked() -> None:
        wait_for(lambda: store.blocked == 1, 5, message="the query blocked")
        with store.write() as txn:
            txn.touch("t")

    writer = threading.Thread(target=write_once_blocked)
    writer.start()
    request = Request("GET", "/v1/y", {"index": ["5"], "wait": ["5s"]}, b"")
    with pytest.raises(ConsulError):
        block(store, request, fails_after_a_wake)
    writer.join()
    assert store.lock.acquire(timeout=scaled(1)), "the lock was left held"
