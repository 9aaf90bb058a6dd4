"""The local agent: its services and checks, kept in sync with the catalog as Consul's agent
does (at once for changes of services and check statuses; an output-only change waits for
`check_update_interval`), its maintenance modes, and the reaper of critical services."""

from __future__ import annotations

import dataclasses
import functools
import random
import time
import uuid
from dataclasses import dataclass

from pilot.devconsul.checks.definitions import CheckSpec
from pilot.devconsul.checks.runners import CheckRunner, ProbeRunner, TTLRunner
from pilot.devconsul.checks.scripts import REMOTE_DISABLED, ScriptRunner, script_probe
from pilot.devconsul.go.durations import SECOND
from pilot.devconsul.state.catalog import CRITICAL, SERF_CHECK, Catalog, HealthCheck, Node, Service
from pilot.devconsul.state.errors import ConsulError
from pilot.devconsul.state.scheduler import Scheduler, Timer
from pilot.devconsul.state.store import Store, Txn

VERSION = "1.22.0"
SERVICE_MAINTENANCE = "_service_maintenance:"
NODE_MAINTENANCE = "_node_maintenance"
SERVICE_MAINTENANCE_NOTE = (
    "Maintenance mode is enabled for this service, but no reason was provided. "
    "This is a default message."
)
NODE_MAINTENANCE_NOTE = (
    "Maintenance mode is enabled for this node, but no reason was provided. "
    "This is a default message."
)


def unknown_service(service_id: str) -> ConsulError:
    """Consul's 404 for a service id the agent does not have."""
    return ConsulError(
        404,
        f'Unknown service ID "{service_id}". Ensure that the service ID is passed, '
        "not the service name.",
    )


def unknown_check(check_id: str) -> ConsulError:
    """Consul's 404 for a check id the agent does not have."""
    return ConsulError(
        404,
        f'Unknown check ID "{check_id}". Ensure that the check ID is passed, not the check name.',
    )


def agent_service_topic(service_id: str) -> str:
    """What a hash-blocking read of one agent service watches."""
    return "agent.service." + service_id


@dataclass
class AgentOptions:
    """The agent's clocks, in seconds (Consul's defaults; `fast()` for tests)."""

    reap_interval: float = 30.0  # check_reap_interval
    deregister_minimum: float = 60.0  # check_deregister_interval_min
    check_update_interval: float = 300.0

    @classmethod
    def fast(cls) -> AgentOptions:
        """Reaping within about a second (`--dev-fast-reaper`)."""
        return cls(reap_interval=0.5, deregister_minimum=1.0)


@dataclass
class LocalCheck:
    """A check as the agent holds it; the catalog shows `published_output`."""

    check: HealthCheck
    runner: CheckRunner | None = None
    published_output: str = ""
    critical_since: float | None = None
    reap_after: float = 0.0
    deferred: Timer | None = None

    def row(self) -> HealthCheck:
        """What the catalog gets."""
        return dataclasses.replace(self.check, output=self.published_output)


class Agent:
    """One node's agent: writes run inside a store transaction, reads with its lock held."""

    def __init__(
        self,
        store: Store,
        catalog: Catalog,
        scheduler: Scheduler,
        node: str,
        address: str,
        options: AgentOptions,
        *,
        script_checks: str = "",
        run_script: ScriptRunner | None = None,
    ) -> None:
        self.store, self.catalog, self.scheduler = store, catalog, scheduler
        self.node, self.address, self.options = node, address, options
        self.node_id = str(uuid.uuid4())
        self.services: dict[str, Service] = {}
        self.checks: dict[str, LocalCheck] = {}
        self.script_checks = script_checks  # "", "local" or "all": enable_[local_]script_checks
        self.run_script = run_script

    def start(self) -> None:
        """Join the catalog as `consul agent -dev` does, and start the reaper."""
        with self.store.write() as txn:
            addresses = {"lan": self.address, "lan_ipv4": self.address}
            addresses |= {"wan": self.address, "wan_ipv4": self.address}
            meta = {"consul-network-segment": "", "consul-version": VERSION}
            self.catalog.ensure_node(
                txn, Node(self.node, self.node_id, self.address, addresses, meta)
            )
            serf = HealthCheck(self.node, SERF_CHECK, "Serf Health Status", "passing")
            serf.output = "Agent alive and reachable"
            self.catalog.ensure_check(txn, serf)
            self.catalog.ensure_service(
                txn, Service(self.node, "consul", "consul", port=8300, meta=_consul_meta())
            )
        self.scheduler.every(self.options.reap_interval, self.reap)

    def stop(self) -> None:
        """Stop running checks."""
        with self.store.lock:
            for local in self.checks.values():
                if local.runner is not None:
                    local.runner.stop()

    # --- services ------------------------------------------------------------------------

    def register_service(
        self, txn: Txn, service: Service, specs: list[CheckSpec], replace: bool
    ) -> None:
        """Add or replace a service with its checks (re-registered checks keep their status)."""
        for spec in specs:
            self._allowed(spec)
        new: list[LocalCheck] = []
        for n, spec in enumerate(specs, start=1):
            check_id = spec.check_id or f"service:{service.id}" + (
                f":{n}" if len(specs) > 1 else ""
            )
            check = _health_check(self.node, check_id, spec, service)
            check.name = spec.name or f"Service '{service.name}' check"
            new.append(self._local(check, spec, service))
        self.services[service.id] = service
        txn.notify(agent_service_topic(service.id))
        self.catalog.ensure_service(txn, dataclasses.replace(service))
        for local in new:
            self._install(txn, local)
        if replace:
            kept = {local.check.check_id for local in new}
            for check_id, local in list(self.checks.items()):
                if local.check.service_id == service.id and check_id not in kept:
                    self._remove_check(txn, check_id)
        for local in self.checks.values():  # the catalog copies the service's name and tags
            if local.check.service_id == service.id:
                self.catalog.ensure_check(txn, local.row())

    def deregister_service(self, txn: Txn, service_id: str) -> None:
        """Remove a service and all its checks (maintenance included)."""
        if service_id not in self.services:
            raise unknown_service(service_id)
        for check_id, local in list(self.checks.items()):
            if local.check.service_id == service_id:
                self._remove_check(txn, check_id)
        del self.services[service_id]
        txn.notify(agent_service_topic(service_id))
        self.catalog.delete_service(txn, self.node, service_id)

    # --- checks --------------------------------------------------------------------------

    def register_check(self, txn: Txn, check_id: str, spec: CheckSpec, service_id: str) -> None:
        """Add or replace a check of the node or of one of its services."""
        self._allowed(spec)
        service = self.services.get(service_id) if service_id else None
        check = _health_check(self.node, check_id, spec, service)
        self._install(txn, self._local(check, spec, service))

    def deregister_check(self, txn: Txn, check_id: str) -> None:
        """Remove one check."""
        if check_id not in self.checks:
            raise unknown_check(check_id)
        self._remove_check(txn, check_id)

    def update_ttl(self, txn: Txn, check_id: str, status: str, output: str) -> None:
        """pass/warn/fail/update of a TTL check: its status, and a fresh TTL."""
        local = self.checks.get(check_id)
        if local is None:
            raise unknown_check(check_id)
        if not isinstance(local.runner, TTLRunner):
            raise ConsulError(500, f'CheckID "{check_id}" does not have associated TTL')
        self._set_status(txn, local, status, local.runner.update(output))

    def report(self, check_id: str, runner: object, status: str, output: str) -> None:
        """A check runner's verdict (from the scheduler or a probe thread)."""
        with self.store.write() as txn:
            local = self.checks.get(check_id)
            if local is not None and local.runner is runner:
                self._set_status(txn, local, status, output)

    # --- maintenance ---------------------------------------------------------------------

    def service_maintenance(self, txn: Txn, service_id: str, enable: bool, reason: str) -> None:
        """Put a service in maintenance (a critical check) or take it out."""
        service = self.services.get(service_id)
        if service is None:
            raise unknown_service(service_id)
        check_id = SERVICE_MAINTENANCE + service_id
        name, note = "Service Maintenance Mode", reason or SERVICE_MAINTENANCE_NOTE
        self._maintenance(txn, check_id, name, enable, note, service)

    def node_maintenance(self, txn: Txn, enable: bool, reason: str) -> None:
        """Put the whole node in maintenance or take it out."""
        note = reason or NODE_MAINTENANCE_NOTE
        self._maintenance(txn, NODE_MAINTENANCE, "Node Maintenance Mode", enable, note, None)

    def _maintenance(
        self, txn: Txn, check_id: str, name: str, enable: bool, note: str, service: Service | None
    ) -> None:
        if not enable:
            if check_id in self.checks:
                self._remove_check(txn, check_id)
            return
        if check_id in self.checks:
            return
        check = HealthCheck(self.node, check_id, name, CRITICAL, notes=note, type="maintenance")
        if service is not None:
            check.service_id, check.service_name = service.id, service.name
        self._install(txn, LocalCheck(check))

    # --- the reaper ----------------------------------------------------------------------

    def reap(self) -> None:
        """Deregister services with a check critical for longer than its
        DeregisterCriticalServiceAfter."""
        with self.store.write() as txn:
            now = time.monotonic()
            for local in list(self.checks.values()):
                service_id = local.check.service_id
                if (
                    local.reap_after
                    and local.critical_since is not None
                    and now - local.critical_since > local.reap_after
                    and service_id in self.services
                ):
                    self.deregister_service(txn, service_id)

    # --- inside --------------------------------------------------------------------------

    def _allowed(self, spec: CheckSpec) -> None:
        """Script checks registered over HTTP (remote calls) need enable_script_checks."""
        if spec.kind not in ("script", "docker"):
            return
        if self.script_checks != "all" or self.run_script is None:
            raise ConsulError(500, REMOTE_DISABLED)
        if spec.kind == "docker":
            raise ConsulError(500, "consul-dev runs no Docker checks")

    def _local(self, check: HealthCheck, spec: CheckSpec, service: Service | None) -> LocalCheck:
        previous = self.checks.get(check.check_id)
        local = LocalCheck(check)
        if previous is not None:  # a re-registration keeps the state (no flapping)
            check.status, check.output = previous.check.status, previous.check.output
            local.published_output = previous.published_output
            if check.status == CRITICAL:  # restored through UpdateCheck: the clock restarts
                local.critical_since = time.monotonic()
        if spec.kind == "ttl":
            local.runner = TTLRunner(check.check_id, spec, self.scheduler, self.report)
        elif spec.kind in ("http", "tcp"):
            local.runner = ProbeRunner(check.check_id, spec, self.scheduler, self.report)
        elif spec.kind == "script" and self.run_script is not None:
            probe = functools.partial(script_probe, run=self.run_script)
            local.runner = ProbeRunner(check.check_id, spec, self.scheduler, self.report, probe)
        if spec.deregister_after > 0 and service is not None:
            local.reap_after = max(spec.deregister_after / SECOND, self.options.deregister_minimum)
        return local

    def _install(self, txn: Txn, local: LocalCheck) -> None:
        check_id = local.check.check_id
        if check_id in self.checks:
            self._stop(self.checks[check_id])
        self.checks[check_id] = local
        self.catalog.ensure_check(txn, local.row())
        if local.runner is not None:
            local.runner.start()

    def _remove_check(self, txn: Txn, check_id: str) -> None:
        self._stop(self.checks.pop(check_id))
        self.catalog.delete_check(txn, self.node, check_id)

    @staticmethod
    def _stop(local: LocalCheck) -> None:
        if local.runner is not None:
            local.runner.stop()
        if local.deferred is not None:
            local.deferred.cancel()

    def _set_status(self, txn: Txn, local: LocalCheck, status: str, output: str) -> None:
        """Consul's local UpdateCheck: critical time, idempotency, deferred output sync."""
        if status == CRITICAL:
            if local.critical_since is None:
                local.critical_since = time.monotonic()
        else:
            local.critical_since = None
        check = local.check
        if (check.status, check.output) == (status, output):
            return
        check.output = output
        if check.status == status:
            if local.deferred is None:
                interval = self.options.check_update_interval
                delay = interval / 2 + random.uniform(0, interval)
                local.deferred = self.scheduler.call_later(delay, lambda: self._flush(local))
            return
        check.status, local.published_output = status, output
        self.catalog.ensure_check(txn, local.row())

    def _flush(self, local: LocalCheck) -> None:
        with self.store.write() as txn:
            if self.checks.get(local.check.check_id) is local:
                local.deferred = None
                local.published_output = local.check.output
                self.catalog.ensure_check(txn, local.row())


def _health_check(
    node: str, check_id: str, spec: CheckSpec, service: Service | None
) -> HealthCheck:
    check = HealthCheck(node, check_id, spec.name, spec.status or CRITICAL, notes=spec.notes)
    check.type, check.interval, check.timeout = spec.kind, spec.interval_text, spec.timeout_text
    if service is not None:
        check.service_id, check.service_name = service.id, service.name
        check.service_tags = list(service.tags)
    return check


def _consul_meta() -> dict[str, str]:
    """The meta of the `consul` service a dev server registers for itself."""
    return {
        "grpc_port": "8502",
        "grpc_tls_port": "8503",
        "non_voter": "false",
        "raft_version": "3",
        "read_replica": "false",
        "serf_protocol_current": "2",
        "serf_protocol_max": "5",
        "serf_protocol_min": "1",
        "version": VERSION,
    }
