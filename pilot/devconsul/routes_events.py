"""PUT /v1/event/fire/:name and GET /v1/event/list."""

from __future__ import annotations

from pilot.devconsul.events import new_event
from pilot.devconsul.registry import Registry
from pilot.devconsul.request import Request, Response
from pilot.devconsul.router import Router


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
    router.add("/v1/event/list", ("GET",), registry.events.list)
