"""Agent endpoints: services, checks, maintenance, self, members."""

from __future__ import annotations

import time
from typing import Any

from pilot.devconsul.checks import (
    CHECK_FIELDS,
    STATUSES,
    AgentOptions,
    check_json,
    make_check,
    unknown_check,
)
from pilot.devconsul.handler import Answer, Call, ConsulError, Router, canonical, folded
from pilot.devconsul.state import NODE_MAINTENANCE_NOTE, SERVICE_MAINTENANCE_NOTE, Check, State

SERVICE_FIELDS = folded(
    "ID",
    "Name",
    "Tags",
    "Address",
    "TaggedAddresses",
    "Meta",
    "Port",
    "Kind",
    "Proxy",
    "Connect",
    "Check",
    "Checks",
    "EnableTagOverride",
    "Weights",
    "Namespace",
    "Partition",
    "SocketPath",
    "Locality",
)


def unknown_service(service_id: str) -> ConsulError:
    return ConsulError(
        404,
        f'Unknown service ID "{service_id}". Ensure that the service ID is '
        "passed, not the service name.",
    )


def agent_service_json(service: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in service.items() if k not in ("CreateIndex", "ModifyIndex")}
    out["Datacenter"] = "dc1"
    return out


class AgentRoutes:
    """Registers the agent endpoints on a router."""

    def __init__(self, router: Router, options: AgentOptions) -> None:
        self.options = options
        put, get = ("PUT",), ("GET",)
        router.add("/v1/agent/service/register", put, self.register)
        router.add("/v1/agent/service/deregister/", put, self.deregister, prefix=True)
        router.add("/v1/agent/service/maintenance/", put, self.service_maintenance, prefix=True)
        router.add("/v1/agent/service/", get, self.service, prefix=True)
        router.add("/v1/agent/services", get, self.services)
        router.add("/v1/agent/checks", get, self.checks)
        router.add("/v1/agent/check/register", put, self.check_register)
        router.add("/v1/agent/check/deregister/", put, self.check_deregister, prefix=True)
        for status, word in (("passing", "pass"), ("warning", "warn"), ("critical", "fail")):
            router.add(f"/v1/agent/check/{word}/", put, self._ttl_route(status), prefix=True)
        router.add("/v1/agent/check/update/", put, self.check_update, prefix=True)
        router.add("/v1/agent/maintenance", put, self.node_maintenance)
        router.add("/v1/agent/self", get, self.self_)
        router.add("/v1/agent/members", get, self.members)

    def register(self, call: Call) -> Answer:
        body = call.json(SERVICE_FIELDS)
        name = body.get("Name")
        if not name:
            raise ConsulError(400, "Missing service name")
        if body.get("Address") in ("0.0.0.0", "::", "[::]"):
            raise ConsulError(400, "Invalid service address")
        meta = body.get("Meta") or {}
        if len(meta) > 64 or any(
            k.startswith("consul-") or len(k) > 128 or len(str(v)) > 512 for k, v in meta.items()
        ):
            raise ConsulError(400, "Invalid Service Meta: invalid key or value, or too many pairs")
        service = {
            "ID": body.get("ID") or name,
            "Service": name,
            "Tags": list(body.get("Tags") or []),
            "Address": body.get("Address") or "",
            "Meta": {str(k): str(v) for k, v in meta.items()},
            "Port": int(body.get("Port") or 0),
            "Weights": body.get("Weights") or {"Passing": 1, "Warning": 1},
            "EnableTagOverride": bool(body.get("EnableTagOverride")),
        }
        if body.get("TaggedAddresses"):
            service["TaggedAddresses"] = body["TaggedAddresses"]
        definitions = ([body["Check"]] if body.get("Check") else []) + list(
            body.get("Checks") or []
        )
        checks = []
        for n, raw in enumerate(definitions, start=1):
            if not isinstance(raw, dict):
                raise ConsulError(400, "Request decode failed: json: cannot unmarshal check")
            folded_raw = canonical(raw, CHECK_FIELDS)
            given = folded_raw.get("CheckID") or folded_raw.get("ID")
            check_id = given or (
                f"service:{service['ID']}"
                if len(definitions) == 1
                else f"service:{service['ID']}:{n}"
            )
            checks.append(make_check(raw, service, check_id, self.options))
        state = call.state
        with state.lock:
            old = state.services.get(service["ID"])
            if (
                old is not None
                and {k: v for k, v in old.items() if k not in ("CreateIndex", "ModifyIndex")}
                == service
                and all(c.id in state.checks for c in checks)
            ):
                return Answer()
            replace = call.flag("replace-existing-checks")
            if replace:
                for check in state.checks_of(service["ID"]):
                    if check.id not in {c.id for c in checks}:
                        del state.checks[check.id]
            state.put_service(service, checks)
        return Answer()

    def deregister(self, call: Call) -> Answer:
        state = call.state
        with state.lock:
            if call.path not in state.services or call.path == "consul":
                raise unknown_service(call.path)
            state.remove_service(call.path)
        return Answer()

    def service(self, call: Call) -> Answer:
        with call.state.lock:
            service = call.state.services.get(call.path)
            if service is None:
                raise ConsulError(404, f"unknown service ID: {call.path}")
            return Answer(body=agent_service_json(service))

    def services(self, call: Call) -> Answer:
        with call.state.lock:
            return Answer(
                body={
                    sid: agent_service_json(s)
                    for sid, s in call.state.services.items()
                    if sid != "consul"
                }
            )

    def checks(self, call: Call) -> Answer:
        with call.state.lock:
            return Answer(
                body={
                    c.id: check_json(call.state, c)
                    for c in call.state.checks.values()
                    if c.id != "serfHealth"
                }
            )

    def check_register(self, call: Call) -> Answer:
        raw = call.json(CHECK_FIELDS)
        if not raw.get("Name"):
            raise ConsulError(400, "Missing check name")
        state = call.state
        with state.lock:
            service = None
            if raw.get("ServiceID"):
                service = state.services.get(raw["ServiceID"])
                if service is None:
                    raise ConsulError(404, f'ServiceID "{raw["ServiceID"]}" does not exist')
            check = make_check(
                raw, service, raw.get("CheckID") or raw.get("ID") or raw["Name"], self.options
            )
            index = state.bump(*state.service_resources(check.service_id), "checks")
            check.create_index = check.modify_index = index
            state.checks[check.id] = check
        return Answer()

    def check_deregister(self, call: Call) -> Answer:
        state = call.state
        with state.lock:
            check = state.checks.pop(call.path, None)
            if check is None:
                raise unknown_check(call.path)
            state.bump(*state.service_resources(check.service_id), "checks")
        return Answer()

    def _ttl_route(self, status: str) -> Any:
        def route(call: Call) -> Answer:
            return self._update(call, call.path, status, call.param("note", ""))

        return route

    def check_update(self, call: Call) -> Answer:
        body = call.json(folded("Status", "Output"))
        status = body.get("Status", "")
        if status not in STATUSES:
            raise ConsulError(400, f"Invalid check status: '{status}'")
        return self._update(call, call.path, status, str(body.get("Output") or ""))

    def _update(self, call: Call, check_id: str, status: str, output: str | None) -> Answer:
        state = call.state
        with state.lock:
            check = state.checks.get(check_id)
            if check is None:
                raise unknown_check(check_id)
            if check.type != "ttl":
                raise ConsulError(500, f'CheckID "{check_id}" does not have associated TTL')
            assert check.ttl is not None
            check.deadline = time.monotonic() + check.ttl
            state.set_check(check, status, (output or "")[:4096])
        return Answer()

    def service_maintenance(self, call: Call) -> Answer:
        service_id = call.path
        if not service_id:
            raise ConsulError(400, "Missing service ID")
        enable = self._enable(call)
        state = call.state
        with state.lock:
            service = state.services.get(service_id)
            if service is None:
                raise unknown_service(service_id)
            check_id = f"_service_maintenance:{service_id}"
            self._maintenance(
                state,
                check_id,
                "Service Maintenance Mode",
                service,
                enable,
                call.param("reason") or SERVICE_MAINTENANCE_NOTE,
            )
        return Answer()

    def node_maintenance(self, call: Call) -> Answer:
        enable = self._enable(call)
        with call.state.lock:
            self._maintenance(
                call.state,
                "_node_maintenance",
                "Node Maintenance Mode",
                None,
                enable,
                call.param("reason") or NODE_MAINTENANCE_NOTE,
            )
        return Answer()

    @staticmethod
    def _enable(call: Call) -> bool:
        raw = call.param("enable")
        if raw is None or raw == "":
            raise ConsulError(400, "Missing value for enable")
        if raw not in (
            "1",
            "t",
            "T",
            "TRUE",
            "true",
            "True",
            "0",
            "f",
            "F",
            "FALSE",
            "false",
            "False",
        ):
            raise ConsulError(400, f'Invalid value for enable: "{raw}"')
        return raw in ("1", "t", "T", "TRUE", "true", "True")

    @staticmethod
    def _maintenance(
        state: State,
        check_id: str,
        name: str,
        service: dict[str, Any] | None,
        enable: bool,
        note: str,
    ) -> None:
        service_id = service["ID"] if service else ""
        resources = (
            "checks",
            "services",
            *(
                state.service_resources(service_id)
                if service
                else [f"health:{s['Service']}" for s in state.services.values()]
            ),
        )
        if enable and check_id not in state.checks:
            index = state.bump(*resources)
            state.checks[check_id] = Check(
                check_id,
                name,
                "critical",
                service_id=service_id,
                notes=note,
                type="maintenance",
                create_index=index,
                modify_index=index,
                critical_since=time.monotonic(),
            )
        elif not enable and check_id in state.checks:
            del state.checks[check_id]
            state.bump(*resources)

    def self_(self, call: Call) -> Answer:
        state = call.state
        return Answer(
            body={
                "Config": {
                    "Datacenter": "dc1",
                    "NodeName": state.node,
                    "NodeID": state.node_id,
                    "Server": True,
                    "Version": "1.21.0",
                },
                "Member": self._member(state),
            }
        )

    def members(self, call: Call) -> Answer:
        return Answer(body=[self._member(call.state)])

    @staticmethod
    def _member(state: State) -> dict[str, Any]:
        return {
            "Name": state.node,
            "Addr": state.address,
            "Port": 8301,
            "Tags": {"role": "consul", "dc": "dc1"},
            "Status": 1,
        }
