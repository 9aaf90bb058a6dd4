"""Health, catalog and status endpoints, with blocking queries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pilot.devconsul.checks import check_json
from pilot.devconsul.handler import Answer, Call, ConsulError, Router, folded
from pilot.devconsul.routes_agent import SERVICE_FIELDS
from pilot.devconsul.state import NODE_CHECK, State

STATES = ("any", "passing", "warning", "critical")


def node_json(state: State) -> dict[str, Any]:
    return {
        "ID": state.node_id,
        "Node": state.node,
        "Address": state.address,
        "Datacenter": "dc1",
        "TaggedAddresses": {
            "lan": state.address,
            "lan_ipv4": state.address,
            "wan": state.address,
            "wan_ipv4": state.address,
        },
        "Meta": {"consul-network-segment": "", "consul-version": "1.21.0"},
        "CreateIndex": 1,
        "ModifyIndex": 1,
    }


def service_json(service: dict[str, Any]) -> dict[str, Any]:
    out = dict(service)
    out.setdefault("Proxy", {"Mode": "", "MeshGateway": {}, "Expose": {}})
    out.setdefault("Connect", {})
    return out


def blocking(
    call: Call, resource: Callable[[State], int], answer: Callable[[State], Any]
) -> Answer:
    """Answer now, or once `resource`'s index passes the requested one, or after the wait."""
    index, wait = call.blocking()
    state = call.state
    with state.lock:
        if index > 0:
            state.wait_beyond(lambda: resource(state), index, wait)
        return Answer(body=answer(state), index=resource(state))


class ReadRoutes:
    """Registers the health, catalog and status endpoints."""

    def __init__(self, router: Router) -> None:
        get = ("GET",)
        router.add("/v1/health/service/", get, self.health_service, prefix=True)
        router.add("/v1/health/checks/", get, self.health_checks, prefix=True)
        router.add("/v1/health/node/", get, self.health_node, prefix=True)
        router.add("/v1/health/state/", get, self.health_state, prefix=True)
        router.add("/v1/catalog/services", get, self.catalog_services)
        router.add("/v1/catalog/service/", get, self.catalog_service, prefix=True)
        router.add("/v1/catalog/nodes", get, self.catalog_nodes)
        router.add("/v1/catalog/node/", get, self.catalog_node, prefix=True)
        router.add("/v1/catalog/register", ("PUT",), self.catalog_register)
        router.add("/v1/catalog/deregister", ("PUT",), self.catalog_deregister)
        router.add("/v1/status/leader", get, lambda call: Answer(body="127.0.0.1:8300"))
        router.add("/v1/status/peers", get, lambda call: Answer(body=["127.0.0.1:8300"]))

    @staticmethod
    def _filters(call: Call) -> None:
        if call.param("filter"):
            raise ConsulError(400, "filter expressions are not supported by pilot consul-dev")
        if "stale" in call.params and "consistent" in call.params:
            raise ConsulError(400, "Cannot specify ?stale with ?consistent, conflicting semantics.")
        dc = call.param("dc")
        if dc and dc != "dc1":
            raise ConsulError(500, "No path to datacenter")

    def health_service(self, call: Call) -> Answer:
        self._filters(call)
        name, tags, passing = call.path, call.params.get("tag", []), call.flag("passing")

        def answer(state: State) -> list[dict[str, Any]]:
            entries = []
            for service in sorted(state.services.values(), key=lambda s: s["ID"]):
                if service["Service"] != name:
                    continue
                own = {t.lower() for t in service["Tags"]}
                if not all(tag.lower() in own for tag in tags):
                    continue
                checks = [
                    c
                    for c in state.checks.values()
                    if c.service_id == "" and c.id in (NODE_CHECK, "_node_maintenance")
                ]
                checks += state.checks_of(service["ID"])
                if passing and any(c.status != "passing" for c in checks):
                    continue
                entries.append(
                    {
                        "Node": node_json(state),
                        "Service": service_json(service),
                        "Checks": [check_json(state, c) for c in checks],
                    }
                )
            return entries

        return blocking(call, lambda s: s.index_of(f"health:{name}"), answer)

    def health_checks(self, call: Call) -> Answer:
        name = call.path

        def answer(state: State) -> list[dict[str, Any]]:
            ids = {sid for sid, s in state.services.items() if s["Service"] == name}
            return [check_json(state, c) for c in state.checks.values() if c.service_id in ids]

        return blocking(call, lambda s: s.index_of(f"health:{name}"), answer)

    def health_node(self, call: Call) -> Answer:
        def answer(state: State) -> list[dict[str, Any]]:
            if call.path != state.node:
                return []
            return [check_json(state, c) for c in state.checks.values()]

        return blocking(call, lambda s: s.index_of("checks"), answer)

    def health_state(self, call: Call) -> Answer:
        wanted = call.path
        if wanted not in STATES:
            raise ConsulError(400, "Invalid check state")

        def answer(state: State) -> list[dict[str, Any]]:
            return [
                check_json(state, c)
                for c in state.checks.values()
                if wanted == "any" or c.status == wanted
            ]

        return blocking(call, lambda s: s.index_of("checks"), answer)

    def catalog_services(self, call: Call) -> Answer:
        self._filters(call)

        def answer(state: State) -> dict[str, list[str]]:
            out: dict[str, list[str]] = {}
            for service in state.services.values():
                tags = out.setdefault(service["Service"], [])
                tags.extend(t for t in service["Tags"] if t not in tags)
            return out

        return blocking(call, lambda s: s.index_of("services"), answer)

    def catalog_service(self, call: Call) -> Answer:
        self._filters(call)
        name, tags = call.path, call.params.get("tag", [])

        def answer(state: State) -> list[dict[str, Any]]:
            node = node_json(state)
            out = []
            for service in state.services.values():
                if service["Service"] != name or not all(t in service["Tags"] for t in tags):
                    continue
                out.append(
                    {
                        "ID": node["ID"],
                        "Node": state.node,
                        "Address": state.address,
                        "Datacenter": "dc1",
                        "TaggedAddresses": node["TaggedAddresses"],
                        "NodeMeta": node["Meta"],
                        "ServiceID": service["ID"],
                        "ServiceName": name,
                        "ServiceTags": service["Tags"],
                        "ServiceAddress": service["Address"],
                        "ServiceMeta": service["Meta"],
                        "ServicePort": service["Port"],
                        "ServiceWeights": service["Weights"],
                        "ServiceEnableTagOverride": service["EnableTagOverride"],
                        "CreateIndex": service["CreateIndex"],
                        "ModifyIndex": service["ModifyIndex"],
                    }
                )
            return out

        return blocking(call, lambda s: s.index_of(f"health:{name}"), answer)

    def catalog_nodes(self, call: Call) -> Answer:
        return blocking(call, lambda s: s.index_of("nodes"), lambda s: [node_json(s)])

    def catalog_node(self, call: Call) -> Answer:
        def answer(state: State) -> dict[str, Any] | None:
            if call.path != state.node:
                return None
            return {
                "Node": node_json(state),
                "Services": {sid: service_json(s) for sid, s in state.services.items()},
            }

        return blocking(call, lambda s: s.index_of("services"), answer)

    def catalog_register(self, call: Call) -> Answer:
        body = call.json(
            folded(
                "ID",
                "Node",
                "Address",
                "Datacenter",
                "TaggedAddresses",
                "NodeMeta",
                "Service",
                "Check",
                "Checks",
                "SkipNodeUpdate",
            )
        )
        state = call.state
        if body.get("Node") and body["Node"] != state.node:
            raise ConsulError(
                500, f"pilot consul-dev has a single node: {state.node}, not {body['Node']}"
            )
        raw = body.get("Service")
        if raw:
            from pilot.devconsul.handler import canonical

            service = canonical(raw, SERVICE_FIELDS | folded("Service"))
            name = service.get("Service") or service.get("Name")
            if not name:
                raise ConsulError(400, "Missing service name")
            with state.lock:
                state.put_service(
                    {
                        "ID": service.get("ID") or name,
                        "Service": name,
                        "Tags": list(service.get("Tags") or []),
                        "Address": service.get("Address") or "",
                        "Meta": dict(service.get("Meta") or {}),
                        "Port": int(service.get("Port") or 0),
                        "Weights": {"Passing": 1, "Warning": 1},
                        "EnableTagOverride": bool(service.get("EnableTagOverride")),
                    },
                    [],
                )
        return Answer(body=True)

    def catalog_deregister(self, call: Call) -> Answer:
        body = call.json(folded("Node", "Datacenter", "ServiceID", "CheckID"))
        state = call.state
        with state.lock:
            if body.get("ServiceID") in state.services:
                state.remove_service(body["ServiceID"])
            elif body.get("CheckID") in state.checks:
                check = state.checks.pop(body["CheckID"])
                state.bump(*state.service_resources(check.service_id), "checks")
        return Answer(body=True)
