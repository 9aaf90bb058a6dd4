"""Agent endpoints for services: register, deregister, list, read (with hash blocking),
maintenance of a service and of the node."""

from __future__ import annotations

import hashlib
import ipaddress
import json
from typing import Any

from pilot.devconsul.agent.local import agent_service_topic
from pilot.devconsul.agent.registry import Registry
from pilot.devconsul.checks.definitions import (
    SERVICE_DEFINITION,
    CheckSpec,
    check_spec,
    meta_problem,
)
from pilot.devconsul.go.durations import SECOND
from pilot.devconsul.routes.blocking import block_on_hash
from pilot.devconsul.routes.filter_shapes import AGENT_SERVICE
from pilot.devconsul.routes.query import request_filter
from pilot.devconsul.routes.request import Request, Response, parse_bool
from pilot.devconsul.routes.router import Router
from pilot.devconsul.routes.views import agent_service_json
from pilot.devconsul.state.catalog import STATUSES, Service
from pilot.devconsul.state.errors import ConsulError
from pilot.devconsul.state.store import Watch

ANY_ADDRESS = ("0.0.0.0", "::", "[::]")
SIDECAR_MIN_PORT, SIDECAR_MAX_PORT = 21000, 21255  # Consul's sidecar_{min,max}_port


def add_agent_routes(router: Router, registry: Registry) -> None:
    """Serve the agent's service endpoints from `registry`."""
    routes = AgentRoutes(registry)
    put, get = ("PUT",), ("GET",)
    router.add("/v1/agent/service/register", put, routes.register)
    router.add("/v1/agent/service/deregister/", put, routes.deregister)
    router.add("/v1/agent/service/maintenance/", put, routes.service_maintenance)
    router.add("/v1/agent/service/", get, routes.service)
    router.add("/v1/agent/services", get, routes.services)
    router.add("/v1/agent/maintenance", put, routes.node_maintenance)


class AgentRoutes:
    """The agent's service endpoints."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.agent = registry.agent

    def register(self, request: Request) -> Response:
        """PUT /v1/agent/service/register[?replace-existing-checks]."""
        body = request.json(SERVICE_DEFINITION)
        service, specs = self._definition(body)
        raw = request.param("replace-existing-checks")
        replace = raw is not None and raw in ("", "true")
        sidecar = _sidecar_request(body.get("Connect"))
        with self.registry.store.write() as txn:
            self.agent.register_service(txn, service, specs, replace)
            if sidecar is not None:
                proxy, proxy_specs = self._sidecar(service)
                self.agent.register_service(txn, proxy, proxy_specs, replace)
        return Response()

    def _sidecar(self, service: Service) -> tuple[Service, list[CheckSpec]]:
        """The connect-proxy Consul adds for `Connect.SidecarService: {}` (registered even with
        Connect off): the first free port from 21000, a TCP check and an alias check."""
        proxy_id = f"{service.id}-sidecar-proxy"
        taken = {
            s.port
            for s in self.agent.services.values()
            if s.kind == "connect-proxy" and s.id != proxy_id
        }
        port = next(p for p in range(SIDECAR_MIN_PORT, SIDECAR_MAX_PORT + 1) if p not in taken)
        proxy = Service(
            self.agent.node,
            proxy_id,
            f"{service.name}-sidecar-proxy",
            port=port,
            kind="connect-proxy",
            proxy_destination=service.name,
            proxy_destination_id=service.id,
        )
        listening = {"Name": "Connect Sidecar Listening", "TCP": f"127.0.0.1:{port}"}
        aliasing = {"Name": f"Connect Sidecar Aliasing {service.id}", "AliasService": service.id}
        return proxy, [check_spec(listening | {"Interval": 10 * SECOND}), check_spec(aliasing)]

    def _definition(self, body: dict[str, Any]) -> tuple[Service, list[CheckSpec]]:
        """The service and its checks, validated in Consul's order and with its texts."""
        name = body.get("Name", "")
        if not name:
            raise ConsulError(400, "Missing service name")
        address = body.get("Address", "")
        if address in ANY_ADDRESS:
            raise ConsulError(400, "Invalid service address")
        weights = body.get("Weights")
        if weights is not None:
            if weights.get("Passing", 0) < 1:
                raise ConsulError(400, "Invalid Weights: Passing must be greater than 0")
            if weights.get("Warning", 0) < 0:
                raise ConsulError(400, "Invalid Weights: Warning must be greater or equal than 0")
        problem = meta_problem(body.get("Meta", {}))
        if problem:
            raise ConsulError(400, f"Invalid Service Meta: {problem}")
        raws = [body["Check"]] if body.get("Check") else []
        specs = [check_spec(raw) for raw in raws + body.get("Checks", [])]
        if any(spec.status and spec.status not in STATUSES for spec in specs):
            raise ConsulError(400, "Status for checks must 'passing', 'warning', 'critical'")
        port = body.get("Port", 0)
        service = Service(
            self.agent.node,
            body.get("ID") or name,
            name,
            tags=body.get("Tags", []),
            address=address,
            port=port,
            meta=body.get("Meta"),
            enable_tag_override=body.get("EnableTagOverride", False),
            tagged_addresses=body.get("TaggedAddresses", {}),
            kind=body.get("Kind", ""),
            socket_path=body.get("SocketPath", ""),
            connect_native=_native(body.get("Connect")),
        )
        if weights is not None:
            service.weights = {"Passing": weights["Passing"], "Warning": weights.get("Warning", 0)}
        _default_tagged_addresses(service)
        return service, specs

    def deregister(self, request: Request) -> Response:
        """PUT /v1/agent/service/deregister/:id (its sidecar proxy goes with it)."""
        with self.registry.store.write() as txn:
            self.agent.deregister_service(txn, request.rest)
            sidecar = f"{request.rest}-sidecar-proxy"
            if sidecar in self.agent.services:
                self.agent.deregister_service(txn, sidecar)
        return Response()

    def services(self, request: Request) -> Response:
        """GET /v1/agent/services: {id: service}."""
        keep = request_filter(request, AGENT_SERVICE)
        with self.registry.store.lock:
            datacenter = self.registry.datacenter
            services = self.agent.services.items()
            body = {i: agent_service_json(s, datacenter) for i, s in services}
        if keep is not None:
            body = {i: service for i, service in body.items() if keep.keep(service)}
        return Response(body=body)

    def service(self, request: Request) -> Response:
        """One service, with its ContentHash; `?hash=` blocks while the content stays."""
        service_id = request.rest

        def query() -> tuple[str, Any]:
            service = self.agent.services.get(service_id)
            if service is None:
                raise ConsulError(404, f"unknown service ID: {service_id}")
            body = agent_service_json(service, self.registry.datacenter)
            digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
            body["ContentHash"] = format(int(digest[:16], 16), "x")
            return body["ContentHash"], body

        watch = Watch(frozenset({agent_service_topic(service_id)}))
        content_hash, body = block_on_hash(self.registry.store, request, query, watch)
        return Response(body=body, headers={"X-Consul-ContentHash": content_hash})

    def service_maintenance(self, request: Request) -> Response:
        """PUT /v1/agent/service/maintenance/:id?enable=&reason=."""
        if not request.rest:
            raise ConsulError(400, "Missing service ID")
        enable = _enable(request)
        with self.registry.store.write() as txn:
            self.agent.service_maintenance(txn, request.rest, enable, request.param("reason") or "")
        return Response()

    def node_maintenance(self, request: Request) -> Response:
        """PUT /v1/agent/maintenance?enable=&reason=."""
        enable = _enable(request)
        with self.registry.store.write() as txn:
            self.agent.node_maintenance(txn, enable, request.param("reason") or "")
        return Response()


def _enable(request: Request) -> bool:
    if not request.has("enable"):
        raise ConsulError(400, "Missing value for enable")
    raw = request.param("enable") or ""
    try:
        return parse_bool(raw)
    except ValueError:
        raise ConsulError(400, "Invalid value for enable: " + json.dumps(raw)) from None


def _sidecar_request(connect: Any) -> dict[str, Any] | None:
    """`Connect.SidecarService` (or `sidecar_service`, any case), when a sidecar is asked for."""
    if not isinstance(connect, dict):
        return None
    sidecar = next(
        (v for k, v in connect.items() if k.replace("_", "").lower() == "sidecarservice"), None
    )
    return sidecar if isinstance(sidecar, dict) else None


def _native(connect: Any) -> bool:
    return isinstance(connect, dict) and connect.get("Native") is True


def _default_tagged_addresses(service: Service) -> None:
    """The agent tags an IP service address as lan/wan for its family, unless already given."""
    try:
        version = ipaddress.ip_address(service.address).version
    except ValueError:
        return
    for kind in ("lan", "wan"):
        service.tagged_addresses.setdefault(
            f"{kind}_ipv{version}", {"Address": service.address, "Port": service.port}
        )
