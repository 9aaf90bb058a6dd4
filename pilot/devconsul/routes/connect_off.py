"""The Connect-only endpoints, answered as a Consul agent with `connect { enabled = false }`
answers them (Consul 1.10.3, 2026-12-07): 500 "Connect must be enabled in order to use this
endpoint"."""

from __future__ import annotations

from pilot.devconsul.agent.registry import Registry
from pilot.devconsul.routes.request import Request, Response
from pilot.devconsul.routes.router import Router
from pilot.devconsul.state.errors import ConsulError

PREFIXES = ("/v1/discovery-chain/", "/v1/connect/", "/v1/agent/connect/")
METHODS = ("GET", "POST", "PUT", "DELETE")


def add_connect_off_routes(router: Router, registry: Registry) -> None:
    """Refuse every Connect-only endpoint as Consul does with Connect off."""

    def refuse(request: Request) -> Response:
        raise ConsulError(500, "Connect must be enabled in order to use this endpoint")

    for prefix in PREFIXES:
        router.add(prefix, METHODS, refuse)
