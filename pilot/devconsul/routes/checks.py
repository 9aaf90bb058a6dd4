"""Agent endpoints for checks: list, register, deregister, and the TTL updates
(pass/warn/fail with `?note=`, and update with a JSON body)."""

from __future__ import annotations

from pilot.devconsul.agent.registry import Registry
from pilot.devconsul.checks.definitions import CHECK_DEFINITION, check_spec
from pilot.devconsul.go.decode import STRING, Struct
from pilot.devconsul.routes.filter_shapes import HEALTH_CHECK
from pilot.devconsul.routes.query import request_filter
from pilot.devconsul.routes.request import Request, Response
from pilot.devconsul.routes.router import Route, Router
from pilot.devconsul.routes.views import check_json
from pilot.devconsul.state.catalog import CRITICAL, PASSING, STATUSES, WARNING
from pilot.devconsul.state.errors import ConsulError

CHECK_UPDATE = Struct("checkUpdate", {"Status": STRING, "Output": STRING}, package="agent")


def add_check_routes(router: Router, registry: Registry) -> None:
    """Serve the agent's check endpoints from `registry`."""
    routes = CheckRoutes(registry)
    put = ("PUT",)
    router.add("/v1/agent/checks", ("GET",), routes.checks)
    router.add("/v1/agent/check/register", put, routes.register)
    router.add("/v1/agent/check/deregister/", put, routes.deregister)
    router.add("/v1/agent/check/pass/", put, routes.ttl(PASSING))
    router.add("/v1/agent/check/warn/", put, routes.ttl(WARNING))
    router.add("/v1/agent/check/fail/", put, routes.ttl(CRITICAL))
    router.add("/v1/agent/check/update/", put, routes.update)


class CheckRoutes:
    """The agent's check endpoints."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.agent = registry.agent

    def checks(self, request: Request) -> Response:
        """GET /v1/agent/checks: {id: check}, as the agent sees them."""
        keep = request_filter(request, HEALTH_CHECK)
        with self.registry.store.lock:
            body = {i: check_json(local.check) for i, local in sorted(self.agent.checks.items())}
        if keep is not None:
            body = {i: check for i, check in body.items() if keep.keep(check)}
        return Response(body=body)

    def register(self, request: Request) -> Response:
        """A check of the node, or of a service with `ServiceID`; its id defaults to its name."""
        body = request.json(CHECK_DEFINITION)
        if not body.get("Name"):
            raise ConsulError(400, "Missing check name")
        if body.get("Status") and body["Status"] not in STATUSES:
            raise ConsulError(400, "Bad check status")
        spec = check_spec({k: v for k, v in body.items() if k not in ("ServiceID", "Token")})
        spec.unset_as_zero = True
        service_id = body.get("ServiceID", "")
        with self.registry.store.write() as txn:
            if service_id and service_id not in self.agent.services:
                raise ConsulError(404, f'ServiceID "{service_id}" does not exist')
            self.agent.register_check(txn, spec.check_id or spec.name, spec, service_id)
        return Response()

    def deregister(self, request: Request) -> Response:
        """PUT /v1/agent/check/deregister/:id."""
        with self.registry.store.write() as txn:
            self.agent.deregister_check(txn, request.rest)
        return Response()

    def ttl(self, status: str) -> Route:
        """The pass, warn or fail route: `?note=` becomes the output."""

        def route(request: Request) -> Response:
            with self.registry.store.write() as txn:
                self.agent.update_ttl(txn, request.rest, status, request.param("note") or "")
            return Response()

        return route

    def update(self, request: Request) -> Response:
        """PUT /v1/agent/check/update/:id with {Status, Output}."""
        body = request.json(CHECK_UPDATE)
        status = body.get("Status", "")
        if status not in STATUSES:
            raise ConsulError(400, f"Invalid check status: '{status}'")
        with self.registry.store.write() as txn:
            self.agent.update_ttl(txn, request.rest, status, body.get("Output", ""))
        return Response()
