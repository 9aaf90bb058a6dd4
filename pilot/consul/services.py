"""Keeps this pilot's services registered in Consul and their TTL checks up to date."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pilot.config.model import JobConfig
from pilot.consul.api import ConsulAPI
from pilot.consul.calls import ConsulCalls
from pilot.consul.errors import is_transport_error
from pilot.log import Log

OUTPUT_LIMIT = 4096


@dataclass(frozen=True)
class ServiceRecord:
    """What pilot registers for one job."""

    job: str
    name: str
    id: str
    address: str
    port: int
    tags: tuple[str, ...]
    meta: dict[str, str]
    ttl: float
    interval: float
    initial_status: str
    enable_tag_override: bool
    deregister_after: float | None

    @property
    def check_id(self) -> str:
        return f"service:{self.id}"


@dataclass(frozen=True)
class RegistrationStatus:
    """How one service's registration stands."""

    id: str
    name: str
    job: str
    address: str
    port: int
    registered: bool
    status: str | None  # the check's last reported status
    maintenance: bool


def service_record(
    job: JobConfig, address: str, hostname: str | None = None, role_tag: str | None = None
) -> ServiceRecord:
    """The registration of `job` (which has a port and a health check)."""
    assert job.port is not None and job.health is not None
    host = hostname or socket.gethostname()
    return ServiceRecord(
        job=job.name,
        name=job.service_name,
        id=job.service_id or f"{job.service_name}-{host}-{job.port}",
        address=address,
        port=job.port,
        tags=job.tags + ((role_tag,) if role_tag else ()),
        meta=dict(job.meta),
        ttl=job.health.check_ttl,
        interval=job.health.interval,
        initial_status=job.initial_status,
        enable_tag_override=job.consul.enable_tag_override,
        deregister_after=job.consul.deregister_critical_service_after,
    )


class Registrar:
    """Registers services, reports check results, and re-registers after an agent restart.

    Consul calls go through `ConsulAPI`, on the event loop like this object. Each service
    has one sync task that applies its latest wanted state, retrying
    with jittered exponential backoff capped at the service's health interval.
    """

    def __init__(
        self,
        calls: ConsulCalls,
        log: Log,
        on_error: Callable[[str], None] | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._calls, self._log = calls, log
        self.api = ConsulAPI(calls, timeout)
        self._on_error = on_error
        self.on_agent_restart: Callable[[], None] | None = None
        self._services: dict[str, _ServiceSync] = {}
        self.maintenance: str | None = None  # the reason, while in maintenance mode
        self._pending: set[asyncio.Task[None]] = set()

    def is_registered(self, job: str) -> bool:
        sync = self._services.get(job)
        return sync is not None and sync.registered

    def register(self, record: ServiceRecord) -> None:
        """Register `record` now and keep it registered until `deregister_all`."""
        sync = self._services.get(record.job)
        if sync is None:
            sync = self._services[record.job] = _ServiceSync(self, record)
        elif sync.record != record:
            # e.g. a role tag changed: the same sync registers it again, after any call in
            # flight (never two registrations racing), and the check keeps its status
            sync.record, sync.registered, sync.maintenance_applied = record, False, None
        sync.wake()

    def keeps(self, job: str) -> bool:
        """Whether `job`'s service is to be registered (the call may still be under way)."""
        return job in self._services

    def report(self, job: str, status: str, output: str) -> None:
        """Set the TTL check of `job`'s service to `status` ("passing", "critical"…)."""
        sync = self._services.get(job)
        if sync is not None:
            sync.status, sync.output = status, _truncate(output)
            sync.wake()

    def forget(self, job: str) -> None:
        """Stop keeping `job`'s service registered and deregister it (in the background)."""
        sync = self._services.pop(job, None)
        if sync is None:
            return
        sync.cancel()
        task = asyncio.get_running_loop().create_task(self._deregister(sync.record.id))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def withdraw(self, job: str) -> None:
        """Stop keeping `job`'s service registered and deregister it now."""
        sync = self._services.pop(job, None)
        if sync is not None:
            sync.cancel()
            await self._deregister(sync.record.id)

    async def _deregister(self, service_id: str) -> None:
        try:
            await self.api.deregister_service(service_id)
            self._log.info(f"deregistered {service_id}")
        except Exception as error:  # the agent may be gone; the TTL ends it then
            self._log.warn(f"could not deregister {service_id}: {error}")

    def set_maintenance(self, reason: str | None) -> None:
        """Put every service in Consul maintenance mode (`reason`), or take it out (None).
        Check results are not reported meanwhile; leaving reports the latest at once."""
        self.maintenance = reason
        for sync in self._services.values():
            sync.wake()

    def statuses(self) -> tuple[RegistrationStatus, ...]:
        """The services and how their registration stands, for status output."""
        return tuple(
            RegistrationStatus(
                sync.record.id,
                sync.record.name,
                sync.record.job,
                sync.record.address,
                sync.record.port,
                sync.registered,
                sync.status,
                sync.maintenance_applied is not None,
            )
            for sync in self._services.values()
        )

    def lost_agent_state(self, restarted: bool = False) -> None:
        """The agent may have forgotten us (a call failed): re-register every service now.
        `restarted`: it did (it answered 404 for our check), so `on_agent_restart` is told."""
        if restarted and self.on_agent_restart is not None:
            self.on_agent_restart()
        for sync in self._services.values():
            sync.registered = False
            sync.maintenance_applied = None
            sync.wake()

    async def deregister_all(self, timeout: float = 3.0) -> None:
        """Remove every service from Consul, in parallel, giving up after `timeout`."""
        syncs = list(self._services.values())
        self._services.clear()
        for sync in syncs:
            sync.cancel()

        try:
            async with asyncio.timeout(timeout):
                await asyncio.gather(*(self._deregister(sync.record.id) for sync in syncs))
        except TimeoutError:
            self._log.warn("Consul did not answer deregistration in time")

    def close(self) -> None:
        """Stop every sync and background deregistration."""
        for sync in self._services.values():
            sync.cancel()
        for task in self._pending:
            task.cancel()

    def _failed(self, op: str, error: Exception) -> None:
        if self._on_error is not None:
            self._on_error(op)


class _ServiceSync:
    """Applies the wanted state of one service: registered, and its check's latest status."""

    def __init__(self, registrar: Registrar, record: ServiceRecord) -> None:
        self.registrar, self.record = registrar, record
        self.registered = False
        self.maintenance_applied: str | None = None
        self.status: str | None = None
        self.output = ""
        self._wanted = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run())

    def wake(self) -> None:
        self._wanted.set()

    def cancel(self) -> None:
        self._task.cancel()

    async def _run(self) -> None:
        delay = 0.1
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            try:
                await self._apply()
                delay = 0.1
            except Exception as error:
                op = "register" if not self.registered else "check_update"
                self.registrar._failed(op, error)
                # Consul being unreachable is said once, by ConsulCalls; an answer that
                # refuses the call is said here.
                log = self.registrar._log
                say = log.debug if is_transport_error(error) else log.warn
                say(
                    f"Consul {op} for {self.record.id} failed: "
                    f"{self.registrar._calls.describe(error)}; retrying"
                )
                self.registrar.lost_agent_state()  # the agent may come back empty
                await asyncio.sleep(random.uniform(0.5, 1.0) * delay)
                delay = min(delay * 2, self.record.interval)
                self._wanted.set()

    async def _apply(self) -> None:
        record = self.record
        if not self.registered:
            await _register(self.registrar.api, record, self.status)
            if self.record is not record:
                return  # changed meanwhile: the loop registers the new one next
            self.registered = True
            self.registrar._log.info(
                f"registered {record.id}", address=record.address, port=record.port, job=record.job
            )
        wanted = self.registrar.maintenance
        if wanted != self.maintenance_applied:
            await self.registrar.api.service_maintenance(record.id, wanted)
            self.maintenance_applied = wanted
        if self.status is None or wanted is not None:
            return
        status, output = self.status, self.output
        updated = await self.registrar.api.update_check(record.check_id, status, output)
        if not updated:
            self.registrar._log.warn(
                f"Consul does not know {record.check_id} any more: re-registering"
            )
            self.registrar.lost_agent_state(restarted=True)


async def _register(api: ConsulAPI, record: ServiceRecord, status: str | None) -> None:
    check: dict[str, Any] = {
        "CheckID": record.check_id,
        "Name": f"{record.name} health (pilot)",
        "TTL": f"{record.ttl:g}s",
        "Status": status or record.initial_status,
    }
    if record.deregister_after is not None:
        check["DeregisterCriticalServiceAfter"] = f"{record.deregister_after:g}s"
    await api.register_service(
        record.name,
        service_id=record.id,
        address=record.address,
        port=record.port,
        tags=list(record.tags),
        meta=record.meta,
        enable_tag_override=record.enable_tag_override,
        check=check,
    )


def _truncate(output: str) -> str:
    data = output.encode("utf-8", "replace")
    if len(data) <= OUTPUT_LIMIT:
        return output
    return data[:OUTPUT_LIMIT].decode("utf-8", "ignore")
