"""The registry's state: one node's services, checks, KV and sessions, with per-resource
indexes for blocking queries. Every method takes the lock; waiters use `wait_beyond`."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

NODE_CHECK = "serfHealth"
SERVICE_MAINTENANCE_NOTE = (
    "Maintenance mode is enabled for this service, but no reason was "
    "provided. This is a default message."
)
NODE_MAINTENANCE_NOTE = (
    "Maintenance mode is enabled for this node, but no reason was "
    "provided. This is a default message."
)


@dataclass
class Check:
    """A check as the agent keeps it; `definition` holds how it is run (TTL, HTTP, TCP)."""

    id: str
    name: str
    status: str
    service_id: str = ""
    notes: str = ""
    output: str = ""
    type: str = "ttl"
    ttl: float | None = None
    deadline: float | None = None
    http: str | None = None
    tcp: str | None = None
    interval: float | None = None
    timeout: float | None = None
    next_run: float = 0.0
    deregister_after: float | None = None
    critical_since: float | None = None
    create_index: int = 0
    modify_index: int = 0


@dataclass
class Session:
    id: str
    name: str
    node: str
    ttl: float | None
    behavior: str
    lock_delay: float
    node_checks: list[str]
    service_checks: list[dict[str, Any]] | None
    expires: float | None
    create_index: int
    modify_index: int


@dataclass
class KVEntry:
    key: str
    value: bytes | None
    flags: int
    create_index: int
    modify_index: int
    lock_index: int = 0
    session: str | None = None


@dataclass
class State:
    """Everything the registry knows. `index` only grows; `indexes` per resource."""

    node: str
    address: str = "127.0.0.1"
    lock: threading.Condition = field(default_factory=threading.Condition)
    index: int = 10
    indexes: dict[str, int] = field(default_factory=dict)
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    checks: dict[str, Check] = field(default_factory=dict)
    kv: dict[str, KVEntry] = field(default_factory=dict)
    sessions: dict[str, Session] = field(default_factory=dict)
    lock_delays: dict[str, float] = field(default_factory=dict)
    node_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def __post_init__(self) -> None:
        self.checks[NODE_CHECK] = Check(
            NODE_CHECK,
            "Serf Health Status",
            "passing",
            output="Agent alive and reachable",
            type="",
            create_index=self.index,
            modify_index=self.index,
        )
        self.services["consul"] = {
            "ID": "consul",
            "Service": "consul",
            "Tags": [],
            "Address": "",
            "Meta": {},
            "Port": 8300,
            "Weights": {"Passing": 1, "Warning": 1},
            "EnableTagOverride": False,
            "CreateIndex": self.index,
            "ModifyIndex": self.index,
        }

    def bump(self, *resources: str) -> int:
        """Record a change of `resources` (lock held); wakes every blocking query."""
        self.index += 1
        for resource in resources:
            self.indexes[resource] = self.index
        self.lock.notify_all()
        return self.index

    def index_of(self, resource: str, default: int = 1) -> int:
        return max(self.indexes.get(resource, default), 1)

    def wait_beyond(self, resource_index: Any, index: int, timeout: float) -> None:
        """Block (lock held) until `resource_index()` > `index` or `timeout` passes."""
        deadline = time.monotonic() + timeout
        while resource_index() <= index:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self.lock.wait(remaining)

    # --- services and checks (lock held) --------------------------------------------------

    def service_resources(self, service_id: str) -> tuple[str, ...]:
        service = self.services.get(service_id)
        name = service["Service"] if service else ""
        return ("services", "checks", f"service:{name}", f"health:{name}")

    def put_service(self, service: dict[str, Any], checks: list[Check]) -> None:
        old = self.services.get(service["ID"])
        resources = set(self.service_resources(service["ID"]))
        index = self.bump(
            *resources,
            "services",
            "checks",
            f"service:{service['Service']}",
            f"health:{service['Service']}",
        )
        service["CreateIndex"] = old["CreateIndex"] if old else index
        service["ModifyIndex"] = index
        self.services[service["ID"]] = service
        for check in checks:
            previous = self.checks.get(check.id)
            check.create_index = previous.create_index if previous else index
            check.modify_index = index
            self.checks[check.id] = check

    def remove_service(self, service_id: str) -> None:
        resources = self.service_resources(service_id)
        del self.services[service_id]
        for check_id in [c.id for c in self.checks.values() if c.service_id == service_id]:
            del self.checks[check_id]
        self.bump(*resources)
        self.invalidate_sessions_of_checks()

    def set_check(self, check: Check, status: str, output: str | None = None) -> bool:
        """Update a check; only a real change bumps the indexes."""
        changed = check.status != status or (output is not None and check.output != output)
        if status == "critical" and check.critical_since is None:
            check.critical_since = time.monotonic()
        elif status != "critical":
            check.critical_since = None
        if not changed:
            return False
        check.status = status
        if output is not None:
            check.output = output
        check.modify_index = self.bump(*self.service_resources(check.service_id), "checks")
        if status == "critical":
            self.invalidate_sessions_of_checks()
        return True

    def checks_of(self, service_id: str) -> list[Check]:
        return [c for c in self.checks.values() if c.service_id == service_id]

    # --- sessions and KV (lock held) ------------------------------------------------------

    def invalidate_session(self, session_id: str) -> None:
        """Destroyed or expired: release (or delete) its keys, each with a lock delay."""
        session = self.sessions.pop(session_id, None)
        if session is None:
            return
        resources = ["sessions"]
        for entry in list(self.kv.values()):
            if entry.session != session_id:
                continue
            if session.lock_delay > 0:
                self.lock_delays[entry.key] = time.monotonic() + min(session.lock_delay, 60.0)
            resources.append(f"kv:{entry.key}")
            if session.behavior == "delete":
                del self.kv[entry.key]
            else:
                entry.session = None
        index = self.bump(*resources, "kv")
        for entry in self.kv.values():
            if f"kv:{entry.key}" in resources:
                entry.modify_index = index

    def invalidate_sessions_of_checks(self) -> None:
        for session in list(self.sessions.values()):
            for check_id in session.node_checks + [c["ID"] for c in session.service_checks or []]:
                check = self.checks.get(check_id)
                if check is None or check.status == "critical":
                    self.invalidate_session(session.id)
                    break
