"""The catalog: nodes, service instances and health checks, with Consul's index rules.

Writes take a transaction of the store (they are called inside `store.write()`); reads are
called with the store's lock held. An unchanged write touches nothing, so it wakes nobody
and leaves every index where it was, as Consul's state store does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pilot.devconsul.state.store import Store, Txn

DATACENTER = "dc1"
PASSING, WARNING, CRITICAL = "passing", "warning", "critical"
STATUSES = (PASSING, WARNING, CRITICAL)
SERF_CHECK = "serfHealth"

# Topics: tables, and the per-name indexes Consul keeps.
NODES, SERVICES, CHECKS, EXTINCTION = "nodes", "services", "checks", "service-extinction"


def service_topic(name: str) -> str:
    """The topic of a service name's index."""
    return "service." + name


def node_topic(name: str) -> str:
    """The topic of a node's index."""
    return "node." + name


@dataclass
class Node:
    """A node as the catalog holds it."""

    name: str
    id: str
    address: str
    # None where Consul keeps a nil map (a catalog registration without them): JSON null.
    tagged_addresses: dict[str, str] | None = field(default_factory=dict)
    meta: dict[str, str] | None = field(default_factory=dict)
    datacenter: str = DATACENTER
    create_index: int = 0
    modify_index: int = 0


@dataclass
class Service:
    """A service instance on a node (Consul's NodeService)."""

    node: str
    id: str
    name: str
    tags: list[str] = field(default_factory=list)
    address: str = ""
    port: int = 0
    meta: dict[str, str] | None = None  # None: registered without Meta (health shows null)
    weights: dict[str, int] = field(default_factory=lambda: {"Passing": 1, "Warning": 1})
    enable_tag_override: bool = False
    tagged_addresses: dict[str, dict[str, Any]] = field(default_factory=dict)
    kind: str = ""
    socket_path: str = ""
    connect_native: bool = False
    proxy_destination: str = ""  # a connect-proxy's DestinationServiceName
    proxy_destination_id: str = ""
    create_index: int = 0
    modify_index: int = 0

    def same_as(self, other: Service) -> bool:
        """Equal but for the indexes (Consul's IsSameService)."""
        return bool(_unindexed(self) == _unindexed(other))


@dataclass
class HealthCheck:
    """A check as the catalog holds it."""

    node: str
    check_id: str
    name: str
    status: str = CRITICAL
    notes: str = ""
    output: str = ""
    service_id: str = ""
    service_name: str = ""
    service_tags: list[str] = field(default_factory=list)
    type: str = ""
    interval: str = ""
    timeout: str = ""
    definition: dict[str, Any] = field(default_factory=dict)
    create_index: int = 0
    modify_index: int = 0

    def same_as(self, other: HealthCheck) -> bool:
        """Equal but for the indexes (Consul's IsSame)."""
        return bool(_unindexed(self) == _unindexed(other))


def _unindexed(row: Node | Service | HealthCheck) -> Any:
    return dataclasses.replace(row, create_index=0, modify_index=0)


# Called when a check is deleted or turns critical (check id), or a node goes (None).
Invalidation = Callable[[Txn, str, str | None], None]


class Catalog:
    """Every node, service instance and check, keyed as Consul keys them."""

    def __init__(
        self, store: Store, invalidations: list[Invalidation], datacenter: str = DATACENTER
    ) -> None:
        self.store, self.datacenter = store, datacenter
        self.nodes: dict[str, Node] = {}
        self.services: dict[tuple[str, str], Service] = {}
        self.checks: dict[tuple[str, str], HealthCheck] = {}
        self.invalidations = invalidations  # called in order, the list is the caller's

    # --- reads (lock held) -------------------------------------------------------------

    def max_index(self) -> int:
        """The catalog's max index, over nodes, services and checks."""
        return max(self.store.index_of(t) for t in (NODES, SERVICES, CHECKS))

    def service_index(self, name: str) -> int:
        """Consul's maxIndexForService: the name's own index while it has instances, else the
        last extinction of any service, else the catalog's max index."""
        if self.instances(name):
            return self.store.index_of(service_topic(name)) or self.max_index()
        return self.store.index_of(EXTINCTION) or self.max_index()

    def instances(self, name: str) -> list[Service]:
        """The instances of a service name, in (node, service id) order."""
        return [s for _, s in sorted(self.services.items()) if s.name == name]

    def connect_instances(self, name: str) -> list[Service]:
        """What serves `name` over Connect: its connect-native instances and its proxies."""
        return [
            s
            for _, s in sorted(self.services.items())
            if (s.connect_native and s.name == name)
            or (s.kind == "connect-proxy" and s.proxy_destination == name)
        ]

    def node_services(self, node: str) -> list[Service]:
        """The services on a node, by id."""
        return [s for (n, _), s in sorted(self.services.items()) if n == node]

    def node_checks(self, node: str) -> list[HealthCheck]:
        """Checks of the node itself (no service), by check id."""
        return [c for (n, _), c in sorted(self.checks.items()) if n == node and not c.service_id]

    def checks_of(self, node: str, service_id: str) -> list[HealthCheck]:
        """The checks of one service instance, by check id."""
        return [
            c
            for (n, _), c in sorted(self.checks.items())
            if n == node and c.service_id == service_id
        ]

    def all_checks(self) -> list[HealthCheck]:
        """Every check, by (node, check id)."""
        return [c for _, c in sorted(self.checks.items())]

    # --- writes (inside a transaction) ----------------------------------------------------

    def ensure_node(self, txn: Txn, node: Node) -> None:
        """Add or update a node; every service on it changes with it."""
        node.datacenter = self.datacenter
        old = self.nodes.get(node.name)
        if old is not None and _unindexed(old) == _unindexed(node):
            return
        node.create_index = old.create_index if old else txn.index
        node.modify_index = txn.touch(NODES, node_topic(node.name), *self._names_on(node.name))
        self.nodes[node.name] = node

    def ensure_service(self, txn: Txn, service: Service) -> None:
        """Add or update a service instance."""
        old = self.services.get((service.node, service.id))
        if old is not None and old.same_as(service):
            return
        topics = [SERVICES, node_topic(service.node), service_topic(service.name)]
        if old is not None and old.name != service.name:
            topics.append(service_topic(old.name))
        service.create_index = old.create_index if old else txn.index
        service.modify_index = txn.touch(*topics)
        self.services[(service.node, service.id)] = service
        if old is not None and old.name != service.name and not self.instances(old.name):
            txn.touch(EXTINCTION)

    def ensure_check(self, txn: Txn, check: HealthCheck) -> None:
        """Add or update a check; its service's name and tags are filled in from the catalog."""
        if check.service_id:
            service = self.services[(check.node, check.service_id)]
            check.service_name, check.service_tags = service.name, list(service.tags)
        old = self.checks.get((check.node, check.check_id))
        if old is not None and old.same_as(check):
            return
        check.create_index = old.create_index if old else txn.index
        check.modify_index = txn.touch(CHECKS, node_topic(check.node), *self._affected(check))
        self.checks[(check.node, check.check_id)] = check
        if check.status == CRITICAL:
            for invalidate in self.invalidations:
                invalidate(txn, check.node, check.check_id)

    def delete_check(self, txn: Txn, node: str, check_id: str) -> bool:
        """Remove a check; sessions that depend on it end."""
        check = self.checks.pop((node, check_id), None)
        if check is None:
            return False
        txn.touch(CHECKS, node_topic(node), *self._affected(check))
        for invalidate in self.invalidations:
            invalidate(txn, node, check_id)
        return True

    def delete_service(self, txn: Txn, node: str, service_id: str) -> bool:
        """Remove an instance and its checks."""
        service = self.services.pop((node, service_id), None)
        if service is None:
            return False
        txn.touch(SERVICES, node_topic(node), service_topic(service.name))
        for check in self.checks_of(node, service_id):
            self.delete_check(txn, node, check.check_id)
        if not self.instances(service.name):
            txn.touch(EXTINCTION)
        return True

    def delete_node(self, txn: Txn, node: str) -> bool:
        """Remove a node with its services and checks; its sessions go too."""
        if node not in self.nodes:
            return False
        for service in self.node_services(node):
            self.delete_service(txn, node, service.id)
        for check in self.node_checks(node):
            self.delete_check(txn, node, check.check_id)
        del self.nodes[node]
        txn.touch(NODES, node_topic(node))
        for invalidate in self.invalidations:
            invalidate(txn, node, None)
        return True

    def _names_on(self, node: str) -> list[str]:
        return [service_topic(s.name) for s in self.node_services(node)]

    def _affected(self, check: HealthCheck) -> list[str]:
        """A service check moves its service's index; a node check moves every service's
        index on that node (their health entries include it)."""
        if check.service_id:
            return [service_topic(check.service_name)]
        return self._names_on(check.node)
