"""User events: fire with filters, list by name, block on the last event's index."""

from __future__ import annotations

import base64
import time
from typing import Any

from pilot.devconsul.state.events import event_index
from tests.devconsul.conftest import Api


def test_fire_answers_the_event(client: Any) -> None:
    """fire answers the UserEvent with its payload in base64 and LTime 0."""
    event = client.event.fire("deploy", "v2")
    assert (event["Name"], base64.b64decode(event["Payload"]), event["LTime"]) == (
        "deploy",
        b"v2",
        0,
    )
    assert event["Version"] == 1 and event["NodeFilter"] == ""


def test_list_by_name_with_lamport_times(client: Any, api: Api) -> None:
    """list answers the kept events oldest first, with increasing LTimes; ?name= filters;
    the index is the last event's ID folded to 64 bits."""
    first = client.event.fire("a", "1")
    client.event.fire("b", "2")
    index, events = client.event.list()
    assert [e["Name"] for e in events] == ["a", "b"]
    assert events[0]["LTime"] < events[1]["LTime"]
    assert int(index) == event_index(events[-1]["ID"])
    _, only_a = client.event.list(name="a")
    assert [e["ID"] for e in only_a] == [first["ID"]]
    assert api.get("/v1/event/list", name="none").headers["X-Consul-Index"] == "1"


def test_filters_decide_whether_the_agent_keeps_it(client: Any, api: Api) -> None:
    """Node, service and tag filters are regular expressions matched against this agent."""
    api.register({"Name": "web", "Tags": ["blue"]})
    client.event.fire("kept", node="^node", service="we.", tag="bl")
    client.event.fire("other-node", node="^other")
    client.event.fire("other-tag", service="web", tag="green")
    assert [e["Name"] for e in client.event.list()[1]] == ["kept"]
    no_service = api.put("/v1/event/fire/x", tag="blue")
    assert (no_service.status_code, no_service.text) == (
        500,
        "Cannot provide tag filter without service filter",
    )
    assert api.put("/v1/event/fire/x", node="(").status_code == 500
    assert api.put("/v1/event/fire/big", data=b"x" * 600).status_code == 500
    assert api.put("/v1/event/fire/").status_code == 400


def test_blocking_list_wakes_on_a_new_event(client: Any, api: Api) -> None:
    """A list blocked on the current index returns when an event is fired, not before."""
    client.event.fire("first")
    index = api.get("/v1/event/list").headers["X-Consul-Index"]
    watch = api.watch("/v1/event/list", index=index, wait="10s")
    api.wait_blocked(1)
    assert not watch.wait(0.2)
    client.event.fire("second")
    assert watch.wait(5)
    assert watch.response is not None
    assert [e["Name"] for e in watch.response.json()] == ["first", "second"]


def test_event_filters_are_go_regexps(api: Api) -> None:
    """Event filters are Go regular expressions: linear-time against a long service name,
    and a syntax error is answered in Go's words."""
    api.register({"Name": "a" * 25 + "!", "ID": "long"})
    started = time.monotonic()
    fired = api.put("/v1/event/fire/x", service="(a+)+$")
    assert time.monotonic() - started < 5
    assert fired.status_code == 200
    refused = api.put("/v1/event/fire/x", node="(")
    assert refused.text == "Invalid node filter: error parsing regexp: missing closing ): `(`"
