"""Checks as the agent defines them: decoding a check definition, and the JSON shape."""

from __future__ import annotations

import time
from typing import Any

from pilot.config.durations import parse_duration
from pilot.devconsul.handler import ConsulError, canonical, folded
from pilot.devconsul.state import Check, State

CHECK_FIELDS = folded(
    "CheckID",
    "ID",
    "Name",
    "Notes",
    "Status",
    "TTL",
    "HTTP",
    "Header",
    "Method",
    "Body",
    "TCP",
    "UDP",
    "GRPC",
    "GRPCUseTLS",
    "H2PING",
    "Args",
    "ScriptArgs",
    "DockerContainerID",
    "Shell",
    "Interval",
    "Timeout",
    "TLSServerName",
    "TLSSkipVerify",
    "OutputMaxSize",
    "SuccessBeforePassing",
    "FailuresBeforeWarning",
    "FailuresBeforeCritical",
    "DeregisterCriticalServiceAfter",
    "AliasNode",
    "AliasService",
    "ServiceID",
)
STATUSES = ("passing", "warning", "critical")


def unknown_check(check_id: str) -> ConsulError:
    return ConsulError(
        404,
        f'Unknown check ID "{check_id}". Ensure that the check ID is passed, not the check name.',
    )


class AgentOptions:
    """Knobs of the dev registry: Consul's 1-minute floor for DeregisterCriticalServiceAfter."""

    deregister_minimum = 60.0


def go_duration(value: Any) -> float:
    """A Go duration: a string like "10s" or an integer of nanoseconds."""
    if isinstance(value, bool):
        raise ValueError("not a duration")
    if isinstance(value, int | float):
        return float(value) / 1e9
    if isinstance(value, str) and value and not value.replace(".", "").isdigit():
        return parse_duration(value)
    raise ValueError(f"time: invalid duration {value!r}")


def make_check(
    raw: dict[str, Any], service: dict[str, Any] | None, check_id: str, options: AgentOptions
) -> Check:
    """A Check from a CheckType definition, validated as the agent does."""
    definition = canonical(raw, CHECK_FIELDS)
    status = definition.get("Status") or "critical"
    if status not in STATUSES:
        raise ConsulError(400, "Status for checks must 'passing', 'warning', 'critical'")
    try:
        ttl = go_duration(definition["TTL"]) if definition.get("TTL") else None
        interval = go_duration(definition["Interval"]) if definition.get("Interval") else None
        timeout = go_duration(definition["Timeout"]) if definition.get("Timeout") else None
        deregister = (
            go_duration(definition["DeregisterCriticalServiceAfter"])
            if definition.get("DeregisterCriticalServiceAfter")
            else None
        )
    except ValueError as error:
        raise ConsulError(400, f"Request decode failed: {error}") from None
    if ttl and interval:
        raise ConsulError(400, "Invalid check: Interval and TTL cannot both be specified")
    kind = (
        "ttl"
        if ttl
        else "http"
        if definition.get("HTTP")
        else "tcp"
        if definition.get("TCP")
        else None
    )
    if kind in ("http", "tcp") and not interval:
        raise ConsulError(
            400,
            "Invalid check: Interval must be > 0 for Script, HTTP, H2PING, "
            "TCP, UDP or OSService checks",
        )
    if kind is None:
        raise ConsulError(400, "Invalid check: TTL must be > 0 for TTL checks")
    name = definition.get("Name") or (f"Service '{service['Service']}' check" if service else "")
    if deregister is not None:
        deregister = max(deregister, options.deregister_minimum)
    now = time.monotonic()
    return Check(
        id=check_id,
        name=name,
        status=status,
        service_id=service["ID"] if service else "",
        notes=definition.get("Notes") or "",
        type=kind,
        ttl=ttl,
        deadline=now + ttl if ttl else None,
        http=definition.get("HTTP"),
        tcp=definition.get("TCP"),
        interval=interval,
        timeout=timeout or 10.0,
        next_run=now,
        deregister_after=deregister,
        critical_since=now if status == "critical" else None,
    )


def check_json(state: State, check: Check) -> dict[str, Any]:
    service = state.services.get(check.service_id) if check.service_id else None
    return {
        "Node": state.node,
        "CheckID": check.id,
        "Name": check.name,
        "Status": check.status,
        "Notes": check.notes,
        "Output": check.output,
        "ServiceID": check.service_id,
        "ServiceName": service["Service"] if service else "",
        "ServiceTags": list(service["Tags"]) if service else [],
        "Type": check.type,
        "Interval": f"{check.interval:g}s" if check.interval else "",
        "Timeout": f"{check.timeout:g}s" if check.interval and check.timeout else "",
        "ExposedPort": 0,
        "Definition": {},
        "CreateIndex": check.create_index,
        "ModifyIndex": check.modify_index,
    }
