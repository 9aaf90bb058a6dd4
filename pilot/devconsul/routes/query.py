"""The query options every catalog, health, KV and session read accepts (Consul's `parse`):
datacenter, consistency mode, `node-meta`, the blocking parameters, and `?filter=`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pilot.devconsul.filter.evaluation import Filter, shape_of
from pilot.devconsul.filter.grammar import FilterSyntaxError, parse
from pilot.devconsul.go.durations import parse_go_duration
from pilot.devconsul.routes.blocking import wait_params
from pilot.devconsul.routes.request import Request
from pilot.devconsul.state.errors import ConsulError


@dataclass(frozen=True)
class QueryOptions:
    """The parsed options of one read."""

    consistency: str  # X-Consul-Effective-Consistency: leader, stale or consistent
    node_meta: dict[str, str]

    def matches(self, meta: dict[str, str]) -> bool:
        """Whether a node's meta has every `node-meta=key:value` asked for."""
        return all(meta.get(key) == value for key, value in self.node_meta.items())

    def headers(self) -> dict[str, str]:
        """The query meta headers these options add."""
        return {"X-Consul-Effective-Consistency": self.consistency}


def query_options(request: Request) -> QueryOptions:
    """Validate a read's options in Consul's order.

    Raises:
        ConsulError: the 400s of conflicting consistency modes, a bad `max_stale`, `wait` or
            `index`; the 500 of an unknown datacenter.
    """
    stale = request.has("stale")
    consistent = request.has("consistent")
    max_stale = request.param("max_stale")
    if max_stale:
        try:
            stale = stale or parse_go_duration(max_stale) > 0
        except ValueError:
            raise ConsulError(400, f'Invalid max_stale value "{max_stale}"') from None
    if stale and consistent:
        raise ConsulError(400, "Cannot specify ?stale with ?consistent, conflicting semantics.")
    if request.has("cached") and consistent:
        raise ConsulError(400, "Cannot specify ?cached with ?consistent, conflicting semantics.")
    wait_params(request)
    local_datacenter(request, request.param("dc"))
    node_meta = {}
    for pair in request.params.get("node-meta", []):
        key, _, value = pair.partition(":")
        node_meta[key] = value
    consistency = "consistent" if consistent else "stale" if stale else "leader"
    return QueryOptions(consistency, node_meta)


def local_datacenter(request: Request, datacenter: str | None) -> None:
    """Refuse a request for another datacenter (`?dc=`, or a body's Datacenter).

    Raises:
        ConsulError: 500 "No path to datacenter": a -dev agent knows only its own.
    """
    if datacenter and datacenter != request.datacenter:
        raise ConsulError(500, "No path to datacenter")


def path_name(request: Request, missing: str) -> str:
    """The name after the route's prefix (a service, a node, a state).

    Raises:
        ConsulError: 400 with the `missing` text when it is empty.
    """
    if not request.rest:
        raise ConsulError(400, missing)
    return request.rest


def request_filter(request: Request, sample: Any) -> Filter | None:
    """The request's `?filter=` compiled for records shaped like `sample` (None: no filter).

    Raises:
        ConsulError: 400 "Failed to create boolean expression evaluator: ..." for a bad one.
    """
    text = request.param("filter")
    if not text:
        return None
    try:
        return Filter(parse(text), shape_of(sample))
    except FilterSyntaxError as error:
        raise ConsulError(400, f"Failed to create boolean expression evaluator: {error}") from None
