"""PUT /v1/event/fire/:name and GET /v1/event/list (blocking on an index made of the last
event's ID)."""

from __future__ import annotations

import time
import uuid

from pilot.devconsul.agent.registry import Registry
from pilot.devconsul.routes.blocking import wait_params
from pilot.devconsul.routes.request import Request, Response
from pilot.devconsul.routes.router import Router
from pilot.devconsul.state.errors import ConsulError
from pilot.devconsul.state.events import TOPIC, Events, UserEvent, event_index
from pilot.devconsul.state.store import Store, Watch


def add_event_routes(router: Router, registry: Registry) -> None:
    """Serve /v1/event/ from `registry`."""

    def fire(request: Request) -> Response:
        event = new_event(request)
        datacenter = request.param("dc")
        if datacenter and datacenter != registry.datacenter:
            return Response(500, raw=b"No path to datacenter")
        with registry.store.lock:
            services = [(s.name, list(s.tags)) for s in registry.agent.services.values()]
        registry.events.fire(event, registry.agent.node, services)
        return Response(body=event.json())

    router.add("/v1/event/fire/", ("PUT",), fire)
    router.add(
        "/v1/event/list", ("GET",), lambda r: list_events(registry.events, registry.store, r)
    )


def new_event(request: Request) -> UserEvent:
    """The event a PUT /v1/event/fire/:name asks for."""
    if not request.rest:
        raise ConsulError(400, "Missing name")
    return UserEvent(
        str(uuid.uuid4()),
        request.rest,
        request.body,
        request.param("node") or "",
        request.param("service") or "",
        request.param("tag") or "",
    )


def list_events(events: Events, store: Store, request: Request) -> Response:
    """The kept events (oldest first), `?name=` only those; `?index=` blocks while the last
    event's index is that one."""
    index, wait = wait_params(request)
    name = request.param("name") or ""
    deadline = time.monotonic() + wait
    with store.lock:
        while True:
            kept = [e for e in events.recent if not name or e.name == name]
            current = event_index(kept[-1].id) if kept else 1
            if not index or index != current:
                break
            if not store.wait(Watch(frozenset({TOPIC})), deadline):
                break
        body = [e.json() for e in kept]
    return Response(body=body, headers={"X-Consul-Index": str(current)})
