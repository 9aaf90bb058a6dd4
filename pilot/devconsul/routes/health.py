"""Health endpoints: instances of a service with their checks, and checks by service, node
or state; all blocking queries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pilot.devconsul.agent.registry import Registry
from pilot.devconsul.routes.blocking import Result, block
from pilot.devconsul.routes.filter_shapes import CHECK_SERVICE_NODE, HEALTH_CHECK
from pilot.devconsul.routes.query import QueryOptions, path_name, query_options, request_filter
from pilot.devconsul.routes.request import Request, Response
from pilot.devconsul.routes.router import Router
from pilot.devconsul.routes.views import check_json, node_json, service_json
from pilot.devconsul.state.catalog import (
    CHECKS,
    PASSING,
    HealthCheck,
    Service,
    node_topic,
    service_topic,
)
from pilot.devconsul.state.store import Watch


def add_health_routes(router: Router, registry: Registry) -> None:
    """Serve /v1/health/ from `registry`."""
    routes = HealthRoutes(registry)
    get = ("GET",)
    router.add("/v1/health/service/", get, routes.service)
    router.add("/v1/health/connect/", get, routes.connect)
    router.add("/v1/health/ingress/", get, routes.ingress)
    router.add("/v1/health/checks/", get, routes.checks)
    router.add("/v1/health/node/", get, routes.node)
    router.add("/v1/health/state/", get, routes.state)


def filter_non_passing(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop entries with any check not passing, by swapping in the last entry as Consul's
    filterNonPassing does (so the order of the rest may change)."""
    out, n, i = list(entries), len(entries), 0
    while i < n:
        if any(check["Status"] != PASSING for check in out[i]["Checks"]):
            out[i] = out[n - 1]
            n -= 1
        else:
            i += 1
    return out[:n]


class HealthRoutes:
    """The health endpoints."""

    def __init__(self, registry: Registry) -> None:
        self.store, self.catalog = registry.store, registry.catalog

    def service(self, request: Request) -> Response:
        """GET /v1/health/service/:name (`tag` repeated = all of them, `passing`, `near`)."""
        return self._instances(request, self.catalog.instances)

    def connect(self, request: Request) -> Response:
        """GET /v1/health/connect/:name: its connect-native instances and its proxies."""
        # a proxy is registered under a name of its own: any service's change may concern it
        return self._instances(request, self.catalog.connect_instances, ("service.",))

    def ingress(self, request: Request) -> Response:
        """GET /v1/health/ingress/:name: none, as on an agent with Connect off (no ingress
        gateway can be configured)."""
        return self._instances(request, lambda name: [])

    def _instances(
        self,
        request: Request,
        select: Callable[[str], list[Service]],
        also: tuple[str, ...] = (),
    ) -> Response:
        name = path_name(request, "Missing service name")
        options = query_options(request)
        keep = request_filter(request, CHECK_SERVICE_NODE)
        tags = [t.lower() for t in request.params.get("tag", [])]
        passing = request.bool_param("passing", "Invalid value for ?passing")

        def query() -> Result:
            entries = []
            for service in select(name):
                node = self.catalog.nodes[service.node]
                if not options.matches(node.meta or {}) or not all(
                    tag in {t.lower() for t in service.tags} for tag in tags
                ):
                    continue
                checks = self.catalog.node_checks(node.name)
                checks += self.catalog.checks_of(node.name, service.id)
                entry = {
                    "Node": node_json(node),
                    "Service": service_json(service),
                    "Checks": [check_json(c) for c in checks],
                }
                if keep is None or keep.keep(entry):
                    entries.append(entry)
            if passing:  # after the index is taken: it stays that of every instance
                entries = filter_non_passing(entries)
            watch = Watch(frozenset({service_topic(name)}), prefixes=also)
            return Result(self.catalog.service_index(name), entries, watch)

        result = block(self.store, request, query)
        entries = result.body
        backend = "streaming" if request.param("index") not in (None, "", "0") else ""
        headers = options.headers() | {
            "X-Consul-Query-Backend": backend
            if backend and not request.param("near")
            else "blocking-query"
        }
        return Response(body=entries, index=result.index, headers=headers)

    def checks(self, request: Request) -> Response:
        """GET /v1/health/checks/:service: the checks of every instance of a service."""
        name = path_name(request, "Missing service name")
        options = query_options(request)
        watch = Watch(frozenset({service_topic(name)}))
        return self._checks(
            request, options, watch, lambda c: c.service_name == name and c.service_id != ""
        )

    def node(self, request: Request) -> Response:
        """GET /v1/health/node/:node: the node's own checks and its services'."""
        node = path_name(request, "Missing node name")
        options = query_options(request)
        watch = Watch(frozenset({node_topic(node)}))
        return self._checks(request, options, watch, lambda c: c.node == node)

    def state(self, request: Request) -> Response:
        """GET /v1/health/state/:state: checks in a state ("any" for all; an unknown state
        matches nothing)."""
        state = path_name(request, "Missing check state")
        options = query_options(request)
        watch = Watch(frozenset({CHECKS}))
        return self._checks(request, options, watch, lambda c: state in ("any", c.status))

    def _checks(
        self,
        request: Request,
        options: QueryOptions,
        watch: Watch,
        keep: Callable[[HealthCheck], bool],
    ) -> Response:
        expression = request_filter(request, HEALTH_CHECK)

        def query() -> Result:
            checks: list[HealthCheck] = [
                c
                for c in self.catalog.all_checks()
                if keep(c) and options.matches(self.catalog.nodes[c.node].meta or {})
            ]
            body = [check_json(c) for c in checks]
            if expression is not None:
                body = [c for c in body if expression.keep(c)]
            return Result(self.store.index_of(CHECKS), body, watch)

        result = block(self.store, request, query)
        return Response(body=result.body, index=result.index, headers=options.headers())
