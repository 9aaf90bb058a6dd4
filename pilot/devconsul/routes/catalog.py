"""Catalog endpoints: services, instances, nodes, a node's services, register, deregister."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from pilot.devconsul.agent.registry import Registry
from pilot.devconsul.filter.evaluation import Filter
from pilot.devconsul.go.decode import (
    ANY,
    BOOL,
    INT,
    STRING,
    STRING_MAP,
    STRINGS,
    ListOf,
    MapOf,
    Struct,
)
from pilot.devconsul.routes.blocking import Result, block
from pilot.devconsul.routes.filter_shapes import NODE, NODE_SERVICE, SERVICE_NODE
from pilot.devconsul.routes.query import (
    QueryOptions,
    local_datacenter,
    path_name,
    query_options,
    request_filter,
)
from pilot.devconsul.routes.request import Request, Response
from pilot.devconsul.routes.router import Router
from pilot.devconsul.routes.views import node_json, service_json, service_node_json
from pilot.devconsul.state.catalog import (
    CRITICAL,
    NODES,
    SERVICES,
    HealthCheck,
    Node,
    Service,
    node_topic,
    service_topic,
)
from pilot.devconsul.state.errors import ConsulError
from pilot.devconsul.state.store import Watch

_NODE_SERVICE = Struct(
    "NodeService",
    {
        "Kind": STRING,
        "ID": STRING,
        "Service": STRING,
        "Tags": STRINGS,
        "Address": STRING,
        "TaggedAddresses": MapOf(Struct("ServiceAddress", {"Address": STRING, "Port": INT})),
        "Meta": STRING_MAP,
        "Port": INT,
        "SocketPath": STRING,
        "Weights": Struct("Weights", {"Passing": INT, "Warning": INT}),
        "EnableTagOverride": BOOL,
        "Proxy": ANY,
        "Connect": ANY,
        "Locality": ANY,
        "CreateIndex": INT,
        "ModifyIndex": INT,
    },
)
_HEALTH_CHECK = Struct(
    "HealthCheck",
    dict.fromkeys(
        ("Node", "CheckID", "Name", "Status", "Notes", "Output", "ServiceID", "ServiceName"),
        STRING,
    )
    | dict.fromkeys(("Type", "Interval", "Timeout"), STRING)
    | {"ServiceTags": STRINGS, "ExposedPort": INT, "Definition": ANY}
    | {"CreateIndex": INT, "ModifyIndex": INT},
)
REGISTER = Struct(
    "RegisterRequest",
    {
        "ID": STRING,
        "Node": STRING,
        "Address": STRING,
        "TaggedAddresses": STRING_MAP,
        "NodeMeta": STRING_MAP,
        "Datacenter": STRING,
        "Service": _NODE_SERVICE,
        "Check": _HEALTH_CHECK,
        "Checks": ListOf(_HEALTH_CHECK),
        "SkipNodeUpdate": BOOL,
        "Locality": ANY,
        "Token": STRING,
    },
)
DEREGISTER = Struct(
    "DeregisterRequest",
    {n: STRING for n in ("Node", "ServiceID", "CheckID", "Datacenter", "Token")},
)


def add_catalog_routes(router: Router, registry: Registry) -> None:
    """Serve /v1/catalog/ from `registry`."""
    routes = CatalogRoutes(registry)
    get = ("GET",)
    router.add("/v1/catalog/services", get, routes.services)
    router.add("/v1/catalog/service/", get, routes.service)
    router.add("/v1/catalog/connect/", get, routes.connect)
    router.add("/v1/catalog/nodes", get, routes.nodes)
    router.add("/v1/catalog/node/", get, routes.node)
    router.add("/v1/catalog/node-services/", get, routes.node_services)
    router.add("/v1/catalog/register", ("PUT",), routes.register)
    router.add("/v1/catalog/deregister", ("PUT",), routes.deregister)


class CatalogRoutes:
    """The catalog endpoints."""

    def __init__(self, registry: Registry) -> None:
        self.store, self.catalog = registry.store, registry.catalog

    def services(self, request: Request) -> Response:
        """{name: [tags]} of every service in the catalog (`filter` on its instances)."""
        options = query_options(request)
        keep = request_filter(request, SERVICE_NODE)

        def query() -> Result:
            out: dict[str, set[str]] = {}
            for service in self._services(options, keep):
                out.setdefault(service.name, set()).update(service.tags)
            body = {name: sorted(tags) for name, tags in sorted(out.items())}
            return Result(self.store.index_of(SERVICES), body, Watch(frozenset({SERVICES})))

        return self._answer(request, options, query)

    def service(self, request: Request) -> Response:
        """The instances of one service (`tag` repeated: all of them)."""
        name = path_name(request, "Missing service name")
        options = query_options(request)
        keep = request_filter(request, SERVICE_NODE)
        tags = [t.lower() for t in request.params.get("tag", [])]

        def query() -> Result:
            body = [
                service_node_json(self.catalog.nodes[s.node], s)
                for s in self._services(options, keep)
                if s.name == name and all(t in {x.lower() for x in s.tags} for t in tags)
            ]
            watch = Watch(frozenset({service_topic(name)}))
            return Result(self.catalog.service_index(name), body, watch)

        return self._answer(request, options, query)

    def connect(self, request: Request) -> Response:
        """GET /v1/catalog/connect/:name: its connect-native instances and its proxies."""
        name = path_name(request, "Missing service name")
        options = query_options(request)
        keep = request_filter(request, SERVICE_NODE)

        def query() -> Result:
            body = [
                service_node_json(self.catalog.nodes[s.node], s)
                for s in self.catalog.connect_instances(name)
                if options.matches(self.catalog.nodes[s.node].meta or {})
            ]
            if keep is not None:
                body = [s for s in body if keep.keep(s)]
            watch = Watch(frozenset({service_topic(name)}), prefixes=("service.",))
            return Result(self.catalog.service_index(name), body, watch)

        return self._answer(request, options, query)

    def nodes(self, request: Request) -> Response:
        """Every node, by name."""
        options = query_options(request)
        keep = request_filter(request, NODE)

        def query() -> Result:
            body = [
                node_json(n)
                for _, n in sorted(self.catalog.nodes.items())
                if options.matches(n.meta or {})
            ]
            if keep is not None:
                body = [n for n in body if keep.keep(n)]
            return Result(self.store.index_of(NODES), body, Watch(frozenset({NODES})))

        return self._answer(request, options, query)

    def node(self, request: Request) -> Response:
        """A node and its services by id; JSON null for an unknown node."""
        name = path_name(request, "Missing node name")
        options = query_options(request)
        keep = request_filter(request, NODE_SERVICE)

        def query() -> Result:
            node = self.catalog.nodes.get(name)
            body: Any = None
            if node is not None:
                services = [service_json(s) for s in self.catalog.node_services(name)]
                if keep is not None:
                    services = [s for s in services if keep.keep(s)]
                body = {"Node": node_json(node), "Services": {s["ID"]: s for s in services}}
            watch = Watch(frozenset({node_topic(name)}))
            return Result(self.store.index_of(node_topic(name)), body, watch)

        return self._answer(request, options, query)

    def register(self, request: Request) -> Response:
        """Write a node, optionally a service and checks, straight into the catalog."""
        body = request.json(REGISTER)
        local_datacenter(request, body.get("Datacenter", ""))
        node_name = body.get("Node", "")
        if not node_name:
            raise ConsulError(500, "Must provide node")
        node_id = body.get("ID", "")
        if node_id:
            try:
                uuid.UUID(node_id)
            except ValueError:
                raise ConsulError(500, "Bad node ID: uuid string is wrong length") from None
        if not body.get("Address") and not body.get("SkipNodeUpdate"):
            raise ConsulError(500, "Must provide address if SkipNodeUpdate is not set")
        service = _service(node_name, body.get("Service"))
        checks = [*([body["Check"]] if "Check" in body else []), *body.get("Checks", [])]
        with self.store.write() as txn:
            node = self.catalog.nodes.get(node_name)
            ids = {service.id} if service is not None else set()
            rows = [self._check(node_name, raw, ids) for raw in checks]
            if not body.get("SkipNodeUpdate"):
                fresh = Node(
                    node_name,
                    node_id or (node.id if node else ""),
                    body["Address"],
                    body.get("TaggedAddresses"),
                    body.get("NodeMeta"),
                )
                self.catalog.ensure_node(txn, fresh)
            elif node is None:
                raise ConsulError(500, "Missing node registration")
            if service is not None:
                self.catalog.ensure_service(txn, service)
            for row in rows:
                self.catalog.ensure_check(txn, row)
        return Response(body=True)

    def deregister(self, request: Request) -> Response:
        """Remove a service, a check, or (with neither) a whole node."""
        body = request.json(DEREGISTER)
        local_datacenter(request, body.get("Datacenter", ""))
        node = body.get("Node", "")
        if not node:
            raise ConsulError(500, "Must provide node")
        with self.store.write() as txn:
            if body.get("ServiceID"):
                self.catalog.delete_service(txn, node, body["ServiceID"])
            elif body.get("CheckID"):
                self.catalog.delete_check(txn, node, body["CheckID"])
            else:
                self.catalog.delete_node(txn, node)
        return Response(body=True)

    def _check(self, node: str, raw: dict[str, Any], registering: set[str]) -> HealthCheck:
        """A catalog check as Consul's checkPreApply and state store complete it; its service
        must exist or be `registering` in the same request."""
        check_id = raw.get("CheckID") or raw.get("Name", "")
        if raw.get("Node", node).lower() != node.lower():
            raise ConsulError(
                500,
                f"Node '{raw['Node']}' for check '{check_id}' doesn't match register request "
                f"node '{node}'",
            )
        service_id = raw.get("ServiceID", "")
        if service_id not in registering | {""} and (node, service_id) not in self.catalog.services:
            raise ConsulError(500, f"Unknown service ID '{service_id}' for check ID '{check_id}'")
        check = HealthCheck(node, check_id, raw.get("Name", ""), raw.get("Status") or CRITICAL)
        check.notes, check.output = raw.get("Notes", ""), raw.get("Output", "")
        check.service_id, check.type = service_id, raw.get("Type", "")
        check.interval, check.timeout = raw.get("Interval", ""), raw.get("Timeout", "")
        return check

    def node_services(self, request: Request) -> Response:
        """GET /v1/catalog/node-services/:node: the node and a list of its services."""
        name = path_name(request, "Missing node name")
        options = query_options(request)
        keep = request_filter(request, NODE_SERVICE)

        def query() -> Result:
            node = self.catalog.nodes.get(name)
            services = [service_json(s) for s in self.catalog.node_services(name)]
            if keep is not None:
                services = [s for s in services if keep.keep(s)]
            body = {
                "Node": node_json(node) if node else None,
                "Services": services if node else None,
            }
            watch = Watch(frozenset({node_topic(name)}))
            return Result(self.store.index_of(node_topic(name)), body, watch)

        return self._answer(request, options, query)

    def _services(self, options: QueryOptions, keep: Filter | None) -> list[Service]:
        services = [
            s
            for _, s in sorted(self.catalog.services.items())
            if options.matches(self.catalog.nodes[s.node].meta or {})
        ]
        if keep is None:
            return services
        return keep.apply(services, lambda s: service_node_json(self.catalog.nodes[s.node], s))

    def _answer(
        self, request: Request, options: QueryOptions, query: Callable[[], Result]
    ) -> Response:
        result = block(self.store, request, query)
        response = Response(body=result.body, index=result.index, headers=options.headers())
        if result.body is None:  # an unknown node: Consul answers a JSON null
            response.raw, response.content_type = b"null", "application/json"
        return response


def _service(node: str, raw: dict[str, Any] | None) -> Service | None:
    """servicePreApply: an id defaults to the name; a name is required with an id."""
    if not raw:
        return None
    name = raw.get("Service", "")
    service_id = raw.get("ID") or name
    if service_id and not name:
        raise ConsulError(
            500, "Must provide service name (Service.Service) when service ID is provided"
        )
    if raw.get("Address", "") in ("0.0.0.0", "::", "[::]"):
        raise ConsulError(500, "Invalid service address")
    service = Service(
        node,
        service_id,
        name,
        tags=raw.get("Tags", []),
        address=raw.get("Address", ""),
        port=raw.get("Port", 0),
        meta=raw.get("Meta"),
        enable_tag_override=raw.get("EnableTagOverride", False),
        tagged_addresses=raw.get("TaggedAddresses", {}),
        kind=raw.get("Kind", ""),
        socket_path=raw.get("SocketPath", ""),
    )
    if "Weights" in raw:
        service.weights = {"Passing": 1, "Warning": 1} | raw["Weights"]
    return service
