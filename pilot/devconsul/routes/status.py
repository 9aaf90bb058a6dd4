"""The cluster as a single server sees it: status, datacenters, network coordinates, and the
operator endpoints (raft, autopilot, keyring without gossip encryption, usage)."""

from __future__ import annotations

import time
from typing import Any

from pilot.devconsul.agent.local import VERSION
from pilot.devconsul.agent.registry import Registry
from pilot.devconsul.go.decode import ANY, BOOL, STRING, UINT, DecodeError, Struct, decode_base64
from pilot.devconsul.routes.agent_self import coordinate, leader_address
from pilot.devconsul.routes.blocking import Result, block
from pilot.devconsul.routes.query import query_options
from pilot.devconsul.routes.request import Request, Response
from pilot.devconsul.routes.router import Router
from pilot.devconsul.state.errors import ConsulError
from pilot.devconsul.state.store import Watch

COORDINATES, AUTOPILOT = "coordinates", "autopilot"
_COORDINATE_UPDATE = Struct(
    "CoordinateUpdateRequest",
    {"Node": STRING, "Segment": STRING, "Partition": STRING, "Coord": ANY, "Datacenter": STRING},
)
_AUTOPILOT = Struct(
    "AutopilotConfiguration",
    {
        "CleanupDeadServers": BOOL,
        "LastContactThreshold": ANY,
        "MaxTrailingLogs": UINT,
        "MinQuorum": UINT,
        "ServerStabilizationTime": ANY,
        "RedundancyZoneTag": STRING,
        "DisableUpgradeMigration": BOOL,
        "UpgradeVersionTag": STRING,
        "CreateIndex": UINT,
        "ModifyIndex": UINT,
    },
    package="api",
)
CONNECT_KINDS = (
    "api-gateway",
    "connect-native",
    "connect-proxy",
    "ingress-gateway",
    "mesh-gateway",
    "terminating-gateway",
)
_KEYRING = Struct("KeyringRequest", {"Key": STRING})
AUTOPILOT_INDEX = 4  # the leader writes its first configuration early in the raft log
AUTOPILOT_ZERO: dict[str, Any] = {
    "CleanupDeadServers": False,
    "LastContactThreshold": "0s",
    "MaxTrailingLogs": 0,
    "MinQuorum": 0,
    "ServerStabilizationTime": "0s",
    "RedundancyZoneTag": "",
    "DisableUpgradeMigration": False,
    "UpgradeVersionTag": "",
}
NO_KEYRING = "Keyring is empty (encryption not enabled)"
NO_KEYRING_TO_MODIFY = "No keyring to modify (encryption not enabled)"


def add_status_routes(router: Router, registry: Registry) -> None:
    """Serve status, coordinate and operator endpoints from `registry`."""
    routes = StatusRoutes(registry)
    get, put = ("GET",), ("PUT",)
    router.add("/v1/status/leader", get, routes.leader)
    router.add("/v1/status/peers", get, routes.peers)
    router.add("/v1/catalog/datacenters", get, lambda r: Response(body=[registry.datacenter]))
    router.add("/v1/coordinate/datacenters", get, routes.coordinate_datacenters)
    router.add("/v1/coordinate/nodes", get, routes.coordinate_nodes)
    router.add("/v1/coordinate/node/", get, routes.coordinate_node)
    router.add("/v1/coordinate/update", put, routes.coordinate_update)
    router.add("/v1/operator/raft/configuration", get, routes.raft_configuration)
    router.add("/v1/operator/raft/peer", ("DELETE",), routes.raft_remove_peer)
    router.add("/v1/operator/raft/transfer-leader", ("POST",), routes.transfer_leader)
    router.add("/v1/operator/autopilot/configuration", ("GET", "PUT"), routes.autopilot)
    router.add("/v1/operator/autopilot/health", get, routes.autopilot_health)
    router.add("/v1/operator/autopilot/state", get, routes.autopilot_state)
    router.add("/v1/operator/keyring", ("GET", "POST", "PUT", "DELETE"), routes.keyring)
    router.add("/v1/operator/usage", get, routes.usage)


class StatusRoutes:
    """The endpoints of the one server."""

    def __init__(self, registry: Registry) -> None:
        self.registry, self.store = registry, registry.store
        self.coordinates: dict[str, dict[str, Any]] = {registry.agent.node: coordinate()}
        self.autopilot_config: dict[str, Any] = {
            "CleanupDeadServers": True,
            "LastContactThreshold": "200ms",
            "MaxTrailingLogs": 250,
            "MinQuorum": 0,
            "ServerStabilizationTime": "10s",
            "RedundancyZoneTag": "",
            "DisableUpgradeMigration": False,
            "UpgradeVersionTag": "",
        }
        self.started = time.time()

    def leader(self, request: Request) -> Response:
        """GET /v1/status/leader: the server's raft address (that of agent/self)."""
        query_options(request)
        return Response(body=leader_address(self.registry))

    def peers(self, request: Request) -> Response:
        """GET /v1/status/peers: the one raft peer."""
        query_options(request)
        return Response(body=[leader_address(self.registry)])

    def coordinate_datacenters(self, request: Request) -> Response:
        """GET /v1/coordinate/datacenters: the WAN coordinates, this server's only."""
        # Consul strips the WAN name's ".<dc>" suffix (the catalog's node name).
        area = {"Node": self.registry.agent.node, "Segment": "", "Coord": coordinate()}
        body = [{"Datacenter": self.registry.datacenter, "AreaID": "wan", "Coordinates": [area]}]
        return Response(body=body)

    def coordinate_nodes(self, request: Request) -> Response:
        """GET /v1/coordinate/nodes: the LAN coordinates of the catalog's nodes (blocking)."""
        return self._coordinates(request, None)

    def coordinate_node(self, request: Request) -> Response:
        """GET /v1/coordinate/node/:node: one node's coordinates, 404 when it has none."""
        response = self._coordinates(request, request.rest)
        if not response.body:
            return Response(404, index=response.index)
        return response

    def coordinate_update(self, request: Request) -> Response:
        """PUT /v1/coordinate/update: a node's coordinate (an unknown node's is dropped)."""
        body = request.json(_COORDINATE_UPDATE)
        coord = body.get("Coord")
        vec = coord.get("Vec") if isinstance(coord, dict) else None
        if not isinstance(coord, dict) or not isinstance(vec, list):
            raise ConsulError(500, "invalid coordinate")
        if len(vec) != len(coordinate()["Vec"]):
            raise ConsulError(500, f"rejected bad coordinate: {coord}")
        with self.store.write() as txn:
            if body.get("Node", "") in self.registry.catalog.nodes:
                self.coordinates[body["Node"]] = coord
                txn.touch(COORDINATES)
        return Response()

    def _coordinates(self, request: Request, only: str | None) -> Response:
        query_options(request)

        def query() -> Result:
            body = [
                {"Node": node, "Segment": "", "Coord": coord}
                for node, coord in sorted(self.coordinates.items())
                if node in self.registry.catalog.nodes and only in (None, node)
            ]
            index = self.store.index_of(COORDINATES) or self.registry.catalog.max_index()
            return Result(index, body, Watch(frozenset({COORDINATES})))

        result = block(self.store, request, query)
        return Response(body=result.body, index=result.index)

    def raft_configuration(self, request: Request) -> Response:
        """GET /v1/operator/raft/configuration: one voter, the leader."""
        query_options(request)
        agent = self.registry.agent
        server = {
            "ID": agent.node_id,
            "Node": agent.node,
            "Address": leader_address(self.registry),
            "Leader": True,
            "ProtocolVersion": "3",
            "Voter": True,
        }
        # Index 0: the configuration of a single -dev server is its bootstrap one.
        return Response(body={"Servers": [server], "Index": 0})

    def raft_remove_peer(self, request: Request) -> Response:
        """DELETE /v1/operator/raft/peer?id=|address=: no peer but this server."""
        peer_id, address = request.param("id"), request.param("address")
        if not peer_id and not address:
            raise ConsulError(
                400,
                "Must specify either ?id with the server's ID or ?address with IP:port of peer "
                "to remove",
            )
        agent = self.registry.agent
        if peer_id and peer_id != agent.node_id:
            raise ConsulError(500, f'id "{peer_id}" was not found in the Raft configuration')
        if address and address != leader_address(self.registry):
            raise ConsulError(500, f'address "{address}" was not found in the Raft configuration')
        raise ConsulError(500, "consul-dev: the only server cannot leave its Raft configuration")

    def transfer_leader(self, request: Request) -> Response:
        """POST /v1/operator/raft/transfer-leader[?id=]: there is no other server to lead
        (raft's error, through Consul's gRPC client)."""
        peer = request.param("id")
        reason = f"Could not find address for server id {peer}" if peer else "cannot find peer"
        raise ConsulError(500, f"rpc error: code = Unknown desc = {reason}")

    def autopilot(self, request: Request) -> Response:
        """GET or PUT (`?cas=`) /v1/operator/autopilot/configuration."""
        if request.method == "GET":
            query_options(request)
            with self.store.lock:
                index = self.store.index_of(AUTOPILOT) or AUTOPILOT_INDEX
                indexes = {"CreateIndex": AUTOPILOT_INDEX, "ModifyIndex": index}
                body = self.autopilot_config | indexes
            return Response(body=body)
        try:
            update = request.json(_AUTOPILOT)
        except ConsulError as error:
            reason = error.text.removeprefix("Request decode failed: ")
            raise ConsulError(400, f"Error parsing autopilot config: {reason}") from None
        cas = request.param("cas")
        with self.store.write() as txn:
            current = self.store.index_of(AUTOPILOT) or AUTOPILOT_INDEX
            if cas is not None and (not cas.isdigit() or int(cas) != current):
                return Response(body=False)
            # The body replaces the whole configuration: omitted fields are Go's zero values.
            self.autopilot_config = AUTOPILOT_ZERO | {
                key: update[key] for key in AUTOPILOT_ZERO if key in update
            }
            txn.touch(AUTOPILOT)
        return Response(body=True)

    def autopilot_health(self, request: Request) -> Response:
        """GET /v1/operator/autopilot/health: one healthy voter, no failure tolerance."""
        server = self._server() | {"SerfStatus": "alive", "Leader": True, "Voter": True}
        body = {"Healthy": True, "FailureTolerance": 0, "Servers": [server]}
        return Response(body=body)

    def autopilot_state(self, request: Request) -> Response:
        """GET /v1/operator/autopilot/state: autopilot's view of the one-server cluster."""
        agent = self.registry.agent
        server = self._server() | {
            "NodeStatus": "alive",
            "ReadReplica": False,
            "Status": "leader",
            "Meta": {"consul-network-segment": "", "consul-version": VERSION},
            "NodeType": "voter",
        }
        body = {
            "Healthy": True,
            "FailureTolerance": 0,
            "OptimisticFailureTolerance": 0,
            "Servers": {agent.node_id: server},
            "Leader": agent.node_id,
            "Voters": [agent.node_id],
        }
        return Response(body=body)

    def _server(self) -> dict[str, Any]:
        agent = self.registry.agent
        stable = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started))
        return {
            "ID": agent.node_id,
            "Name": agent.node,
            "Address": leader_address(self.registry),
            "Version": VERSION,
            "LastContact": "0s",
            "LastTerm": 2,
            "LastIndex": self.store.index,
            "Healthy": True,
            "StableSince": stable,
        }

    def keyring(self, request: Request) -> Response:
        """/v1/operator/keyring: without gossip encryption every node of each pool (WAN, then
        LAN) fails the operation, and Consul answers the collected errors (a 500, for a
        listing too)."""
        agent, datacenter = self.registry.agent, self.registry.datacenter
        key = request.json(_KEYRING).get("Key", "") if request.body else ""
        try:
            decode_base64(key)
        except DecodeError as error:  # each pool refuses the key before asking its nodes
            pools = ("WAN", f"{datacenter} (LAN)")
            items = "".join(f"\t* {pool} error: {error}\n" for pool in pools)
            raise ConsulError(500, f"2 errors occurred:\n{items}\n") from None
        errors = []
        for pool, node in (
            ("WAN", f"{agent.node}.{datacenter}"),
            (f"{datacenter} (LAN)", agent.node),
        ):
            reason = NO_KEYRING if request.method == "GET" else NO_KEYRING_TO_MODIFY
            errors += [f"{pool} error: 1/1 nodes reported failure", f"{node}: {reason}"]
        items = "".join(f"\t* {e}\n" for e in errors)
        raise ConsulError(500, f"{len(errors)} errors occurred:\n{items}\n")

    def usage(self, request: Request) -> Response:
        """GET /v1/operator/usage: the catalog's counts (blocking on the catalog)."""
        options = query_options(request)
        catalog = self.registry.catalog

        def query() -> Result:
            instances = list(catalog.services.values())
            counts = {
                "Services": len({s.name for s in instances}),
                "ServiceInstances": len(instances),
                "ConnectServiceInstances": dict.fromkeys(CONNECT_KINDS, 0),
                "BillableServiceInstances": sum(
                    1 for s in instances if s.name != "consul" and not s.kind
                ),
                "Nodes": len(catalog.nodes),
            }
            index = catalog.max_index()
            body = {"Usage": {self.registry.datacenter: counts}, "Index": index}
            return Result(index, body, Watch(prefixes=("service", "node")))

        result = block(self.store, request, query)
        return Response(body=result.body, index=result.index, headers=options.headers())
