"""The JSON shapes Consul answers with, field for field, in its field order."""

from __future__ import annotations

import base64
from typing import Any

from pilot.devconsul.state.catalog import HealthCheck, Node, Service
from pilot.devconsul.state.kv import Entry
from pilot.devconsul.state.sessions import Session


def node_json(node: Node) -> dict[str, Any]:
    """structs.Node."""
    return {
        "ID": node.id,
        "Node": node.name,
        "Address": node.address,
        "Datacenter": node.datacenter,
        "TaggedAddresses": _map(node.tagged_addresses),
        "Meta": _map(node.meta),
        "CreateIndex": node.create_index,
        "ModifyIndex": node.modify_index,
    }


def service_json(service: Service) -> dict[str, Any]:
    """structs.NodeService, as health and catalog endpoints show it."""
    out: dict[str, Any] = {"Kind": service.kind} if service.kind else {}
    out |= {
        "ID": service.id,
        "Service": service.name,
        "Tags": list(service.tags),
        "Address": service.address,
    }
    if service.tagged_addresses:
        out["TaggedAddresses"] = _tagged(service)
    out |= {"Meta": _map(service.meta), "Port": service.port}
    if service.socket_path:
        out["SocketPath"] = service.socket_path
    return out | {
        "Weights": dict(service.weights),
        "EnableTagOverride": service.enable_tag_override,
        "Proxy": {"Mode": "", "MeshGateway": {}, "Expose": {}},
        "Connect": {"Native": True} if service.connect_native else {},
        "CreateIndex": service.create_index,
        "ModifyIndex": service.modify_index,
    }


def agent_service_json(service: Service, datacenter: str) -> dict[str, Any]:
    """api.AgentService, as the agent endpoints show it (no indexes: local state has none)."""
    out: dict[str, Any] = {"Kind": service.kind} if service.kind else {}
    out |= {
        "ID": service.id,
        "Service": service.name,
        "Tags": list(service.tags),
        "Meta": dict(service.meta or {}),
        "Port": service.port,
        "Address": service.address,
        "SocketPath": service.socket_path,
    }
    if service.tagged_addresses:
        out["TaggedAddresses"] = _tagged(service)
    out |= {"Weights": dict(service.weights), "EnableTagOverride": service.enable_tag_override}
    if service.kind == "connect-proxy":
        out["Proxy"] = {
            "DestinationServiceName": service.proxy_destination,
            "DestinationServiceID": service.proxy_destination_id,
            "LocalServiceAddress": "127.0.0.1",
            "MeshGateway": {},
            "Expose": {},
        }
    if service.connect_native:
        out["Connect"] = {"Native": True}
    return out | {"Datacenter": datacenter}


def service_node_json(node: Node, service: Service) -> dict[str, Any]:
    """structs.ServiceNode, as /v1/catalog/service shows it."""
    out: dict[str, Any] = {
        "ID": node.id,
        "Node": node.name,
        "Address": node.address,
        "Datacenter": node.datacenter,
        "TaggedAddresses": _map(node.tagged_addresses),
        "NodeMeta": _map(node.meta),
        "ServiceKind": service.kind,
        "ServiceID": service.id,
        "ServiceName": service.name,
        "ServiceTags": list(service.tags),
        "ServiceAddress": service.address,
    }
    if service.tagged_addresses:
        out["ServiceTaggedAddresses"] = _tagged(service)
    return out | {
        "ServiceWeights": dict(service.weights),
        "ServiceMeta": dict(service.meta or {}),
        "ServicePort": service.port,
        "ServiceSocketPath": service.socket_path,
        "ServiceEnableTagOverride": service.enable_tag_override,
        "ServiceProxy": {"Mode": "", "MeshGateway": {}, "Expose": {}},
        "ServiceConnect": {"Native": True} if service.connect_native else {},
        "CreateIndex": service.create_index,
        "ModifyIndex": service.modify_index,
    }


def check_json(check: HealthCheck) -> dict[str, Any]:
    """structs.HealthCheck (agent-local checks carry no indexes: they show 0)."""
    return {
        "Node": check.node,
        "CheckID": check.check_id,
        "Name": check.name,
        "Status": check.status,
        "Notes": check.notes,
        "Output": check.output,
        "ServiceID": check.service_id,
        "ServiceName": check.service_name,
        "ServiceTags": list(check.service_tags),
        "Type": check.type,
        "Interval": check.interval,
        "Timeout": check.timeout,
        "ExposedPort": 0,
        "Definition": dict(check.definition),
        "CreateIndex": check.create_index,
        "ModifyIndex": check.modify_index,
    }


def kv_json(entry: Entry) -> dict[str, Any]:
    """structs.DirEntry: the value in base64, null when empty; Session only when held."""
    out: dict[str, Any] = {
        "LockIndex": entry.lock_index,
        "Key": entry.key,
        "Flags": entry.flags,
        "Value": base64.b64encode(entry.value).decode() if entry.value else None,
    }
    if entry.session:
        out["Session"] = entry.session
    return out | {"CreateIndex": entry.create_index, "ModifyIndex": entry.modify_index}


def session_json(session: Session) -> dict[str, Any]:
    """structs.Session: LockDelay in nanoseconds, TTL as given."""
    out: dict[str, Any] = {"ID": session.id, "Name": session.name, "Node": session.node}
    if session.checks:
        out["Checks"] = list(session.checks)
    return out | {
        "LockDelay": session.lock_delay,
        "Behavior": session.behavior,
        "TTL": session.ttl,
        "NodeChecks": list(session.node_checks),
        "ServiceChecks": session.service_checks,
        "CreateIndex": session.create_index,
        "ModifyIndex": session.modify_index,
    }


def _map(value: dict[str, str] | None) -> dict[str, str] | None:
    """A copy, or null where Consul holds a nil map."""
    return None if value is None else dict(value)


def _tagged(service: Service) -> dict[str, Any]:
    return {name: dict(address) for name, address in service.tagged_addresses.items()}
