"""The agent as a member of its (one-node) cluster: self, members, reload, leave, force-leave,
join, ACL tokens (ACLs are disabled), and metrics in go-metrics' JSON or Prometheus text."""

from __future__ import annotations

import ipaddress
import threading
import time
from pathlib import Path
from typing import Any

from pilot.devconsul.agent.local import VERSION
from pilot.devconsul.agent.registry import Registry
from pilot.devconsul.go.durations import SECOND, format_go_duration
from pilot.devconsul.routes.request import Request, Response
from pilot.devconsul.routes.router import Router
from pilot.devconsul.state.errors import ConsulError

SERVER_PORT, SERF_LAN_PORT, SERF_WAN_PORT = 8300, 8301, 8302
GRPC_PORT, GRPC_TLS_PORT = 8502, 8503
ENVOY_VERSIONS = ["1.33.2", "1.32.5", "1.31.6", "1.30.10"]
ALL_SEGMENTS = "_all"
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


def leader_address(registry: Registry) -> str:
    """The raft address of the one server: the node's address, port 8300."""
    return _host_port(registry.agent.address, SERVER_PORT)


def add_self_routes(router: Router, registry: Registry) -> None:
    """Serve the agent's own endpoints from `registry`."""
    routes = SelfRoutes(registry)
    get, put = ("GET",), ("PUT",)
    router.add("/v1/agent/self", get, routes.self)
    router.add("/v1/agent/members", get, routes.members)
    router.add("/v1/agent/reload", put, lambda request: Response())
    router.add("/v1/agent/leave", put, routes.leave)
    router.add("/v1/agent/force-leave/", put, routes.force_leave)
    router.add("/v1/agent/join/", put, routes.join)
    router.add("/v1/agent/token/", put, routes.token)
    router.add("/v1/agent/metrics", get, routes.metrics)


class SelfRoutes:
    """The agent's own endpoints."""

    def __init__(self, registry: Registry) -> None:
        self.registry, self.agent = registry, registry.agent

    def self(self, request: Request) -> Response:
        """GET /v1/agent/self: Config, DebugConfig, Coord, Member, Stats, Meta and xDS."""
        agent, datacenter = self.agent, self.registry.datacenter
        config = {
            "Datacenter": datacenter,
            "PrimaryDatacenter": datacenter,
            "NodeName": agent.node,
            "NodeID": agent.node_id,
            "Revision": "",
            "Server": True,
            "Version": VERSION,
            "BuildDate": "2025-01-01T00:00:00Z",
        }
        debug = {
            "Datacenter": datacenter,
            "PrimaryDatacenter": datacenter,
            "NodeName": agent.node,
            "NodeID": agent.node_id,
            "DevMode": True,
            "ServerMode": True,
            "Bootstrap": True,
            "ACLsEnabled": False,
            "BindAddr": agent.address,
            "AdvertiseAddrLAN": agent.address,
            "CheckReapInterval": _duration(agent.options.reap_interval),
            "CheckDeregisterIntervalMin": _duration(agent.options.deregister_minimum),
            "CheckUpdateInterval": _duration(agent.options.check_update_interval),
            "EnableRemoteScriptChecks": agent.script_checks == "all",
            "EnableLocalScriptChecks": agent.script_checks in ("all", "local"),
            "SessionTTLMin": "10s",
            "KVMaxValueSize": 512 * 1024,
            "TxnMaxReqLen": 512 * 1024,
        }
        xds = {
            "SupportedProxies": {"envoy": ENVOY_VERSIONS},
            "Port": GRPC_TLS_PORT,
            "Ports": {"Plaintext": GRPC_PORT, "TLS": GRPC_TLS_PORT},
        }
        body = {
            "Config": config,
            "DebugConfig": debug,
            "Coord": coordinate(),
            "Member": self._member(agent.node, SERF_LAN_PORT),
            "Stats": self._stats(),
            "Meta": {"consul-network-segment": "", "consul-version": VERSION},
            "xDS": xds,
        }
        return Response(body=body)

    def members(self, request: Request) -> Response:
        """GET /v1/agent/members[?wan][&segment=]: the one member, LAN or WAN."""
        wan = request.has("wan") and request.param("wan") not in ("0", "false")
        segment = request.param("segment") or ""
        if wan:
            if segment not in ("", ALL_SEGMENTS):
                raise ConsulError(400, "Cannot provide a segment with wan=true")
            name = f"{self.agent.node}.{self.registry.datacenter}"
            return Response(body=[self._member(name, SERF_WAN_PORT)])
        if segment not in ("", ALL_SEGMENTS):
            raise ConsulError(500, "Network segments are not supported in this version of Consul")
        return Response(body=[self._member(self.agent.node, SERF_LAN_PORT)])

    def leave(self, request: Request) -> Response:
        """PUT /v1/agent/leave: the agent leaves and shuts down (when it runs on its own)."""
        if self.registry.on_leave is not None:
            threading.Timer(0.1, self.registry.on_leave).start()  # after this answer is sent
        return Response()

    def force_leave(self, request: Request) -> Response:
        """PUT /v1/agent/force-leave/:node: only this node exists, and it is alive."""
        node = request.rest
        if node not in (self.agent.node, f"{self.agent.node}.{self.registry.datacenter}"):
            raise ConsulError(500, f"agent: No node found with name '{node}'")
        return Response()

    def join(self, request: Request) -> Response:
        """PUT /v1/agent/join/:address[?wan]: joining itself succeeds; there is no other."""
        address = request.rest
        port = SERF_WAN_PORT if request.has("wan") else SERF_LAN_PORT
        host, _, given_port = (
            address.rpartition(":")
            if address.count(":") == 1
            else (
                address,
                "",
                "",
            )
        )
        target = _host_port(host.strip("[]"), int(given_port) if given_port.isdigit() else port)
        if target == _host_port(self.agent.address, port):
            return Response()
        # serf names the address as given, without the port it added.
        named = host.strip("[]") if given_port.isdigit() else address
        raise ConsulError(
            500,
            f"1 error occurred:\n\t* Failed to join {named}: dial tcp {target}: connect: "
            "connection refused\n\n",
        )

    def token(self, request: Request) -> Response:
        """PUT /v1/agent/token/:kind: ACLs are disabled."""
        raise ConsulError(401, "ACL support disabled")

    def metrics(self, request: Request) -> Response:
        """GET /v1/agent/metrics: go-metrics' JSON; `?format=prometheus` the Prometheus text
        when a retention time is set (Consul answers 415 otherwise)."""
        gauges = self._gauges()
        if request.param("format") == "prometheus":
            if self.registry.prometheus_retention <= 0:
                raise ConsulError(
                    415, "Prometheus is not enabled since its retention time is not positive"
                )
            lines = []
            for name, value in gauges.items():
                metric = name.replace(".", "_")
                lines += [
                    f"# HELP {metric} {metric}",
                    f"# TYPE {metric} gauge",
                    f"{metric} {value}",
                ]
            text = "\n".join(lines) + "\n"
            return Response(raw=text.encode(), content_type=PROMETHEUS_TEXT)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(time.time() // 10 * 10))
        body: dict[str, Any] = {
            "Timestamp": stamp,
            "Gauges": [{"Name": n, "Value": v, "Labels": {}} for n, v in gauges.items()],
            "Points": [],
            "Counters": [],
            "Samples": [],
        }
        return Response(body=body)

    def _gauges(self) -> dict[str, float]:
        store = self.registry.store
        with store.lock:
            services = len(self.registry.catalog.services)
            keys = len(self.registry.kv.entries)
        return {
            "consul.runtime.num_goroutines": float(threading.active_count()),
            "consul.runtime.alloc_bytes": float(_rss_bytes()),
            "consul.rpc.queries_blocking": float(store.blocked),
            "consul.state.services": float(services),
            "consul.state.kv_entries": float(keys),
            "consul.raft.last_index": float(store.index),
        }

    def _member(self, name: str, port: int) -> dict[str, Any]:
        """A serf member as the dev server sees itself."""
        agent = self.agent
        tags = {
            "acls": "0",
            "build": VERSION + ":",
            "dc": self.registry.datacenter,
            "ft_fs": "1",
            "ft_si": "1",
            "grpc_port": str(GRPC_PORT),
            "id": agent.node_id,
            "port": str(SERVER_PORT),
            "raft_vsn": "3",
            "role": "consul",
            "segment": "",
            "vsn": "2",
            "vsn_max": "3",
            "vsn_min": "2",
            "wan_join_port": str(SERF_WAN_PORT),
        }
        return {
            "Name": name,
            "Addr": agent.address,
            "Port": port,
            "Tags": tags,
            "Status": 1,
            "ProtocolMin": 1,
            "ProtocolMax": 5,
            "ProtocolCur": 2,
            "DelegateMin": 2,
            "DelegateMax": 5,
            "DelegateCur": 4,
        }

    def _stats(self) -> dict[str, dict[str, str]]:
        """Server.Stats and Agent.Stats: consul, raft, serf_lan, serf_wan, runtime, agent, build."""
        store, agent = self.registry.store, self.agent
        with store.lock:
            index = store.index
            checks, services = len(agent.checks), len(agent.services)
            ttls = sum(1 for c in agent.checks.values() if c.check.type == "ttl")
            monitors = sum(1 for c in agent.checks.values() if c.check.type == "script")
        serf = {
            "members": "1",
            "failed": "0",
            "left": "0",
            "health_score": "0",
            "member_time": "1",
            "event_time": str(self.registry.events.ltime + 1),
            "query_time": "1",
            "intent_queue": "0",
            "event_queue": "0",
            "query_queue": "0",
            "encrypted": "false",
            "coordinate_resets": "0",
        }
        return {
            "consul": {
                "acl": "disabled",
                "bootstrap": "true",
                "known_datacenters": "1",
                "leader": "true",
                "leader_addr": leader_address(self.registry),
                "server": "true",
            },
            "raft": {
                "state": "Leader",
                "term": "2",
                "last_log_index": str(index),
                "last_log_term": "2",
                "commit_index": str(index),
                "applied_index": str(index),
                "fsm_pending": "0",
                "last_contact": "0",
                "last_snapshot_index": "0",
                "last_snapshot_term": "0",
                "num_peers": "0",
                "protocol_version": "3",
                "protocol_version_max": "3",
                "protocol_version_min": "0",
                "snapshot_version_max": "1",
                "snapshot_version_min": "0",
                "latest_configuration_index": "0",
                "latest_configuration": (
                    f"[{{Suffrage:Voter ID:{agent.node_id} "
                    f"Address:{leader_address(self.registry)}}}]"
                ),
            },
            "serf_lan": serf,
            "serf_wan": serf | {"event_time": "1"},
            "runtime": {
                "arch": "amd64",
                "os": "linux",
                "version": "go1.23.12",
                "goroutines": str(threading.active_count()),
                "max_procs": "1",
                "cpu_count": "1",
            },
            "agent": {
                "check_monitors": str(monitors),
                "check_ttls": str(ttls),
                "checks": str(checks),
                "services": str(services),
            },
            "build": {
                "prerelease": "",
                "revision": "",
                "version": VERSION,
                "version_metadata": "",
            },
        }


def coordinate() -> dict[str, Any]:
    """A network coordinate at the origin (the one node is at distance 0 from itself)."""
    return {"Vec": [0.0] * 8, "Error": 1.5, "Adjustment": 0.0, "Height": 1e-05}


def _host_port(host: str, port: int) -> str:
    try:
        if ipaddress.ip_address(host).version == 6:
            return f"[{host}]:{port}"
    except ValueError:
        pass
    return f"{host}:{port}"


def _duration(seconds: float) -> str:
    return format_go_duration(round(seconds * SECOND))


def _rss_bytes() -> int:
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0
