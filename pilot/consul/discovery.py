"""Discovery for one pilot: registrations of its jobs, their leader elections, and its watches.
It reacts to job events on the bus, hears health results from the health package, and
publishes watch and election events back."""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pilot.config.consul_model import Watch
from pilot.config.model import Config, JobConfig
from pilot.consul.addresses import resolve_address
from pilot.consul.api import ConsulAPI
from pilot.consul.calls import ConsulCalls
from pilot.consul.client import ConsulTarget
from pilot.consul.leader import LeaderElection
from pilot.consul.services import Registrar, service_record
from pilot.consul.watch import Instance, Query, WatchHub
from pilot.events import Code, Event, EventBus, watch_source
from pilot.log import Log


@dataclass(frozen=True)
class WatchStatus:
    """What one configured watch sees now."""

    name: str
    instances: int
    healthy: bool | None
    updates: int


@dataclass(frozen=True)
class ElectionStatus:
    """A job's role in its election, and the value its current leader wrote."""

    job: str
    role: str  # "leader" or "follower"
    leader: str | None


class Discovery:
    """Registers jobs that have a port, runs their elections, and follows the config's watches."""

    def __init__(self, config: Config, target: ConsulTarget, bus: EventBus, log: Log) -> None:
        self._config, self.target, self._bus, self._log = config, target, bus, log
        self.errors: dict[str, int] = {}
        # A call to an agent that does not answer must not outlast a health interval: the
        # retry that notices the agent is back comes within one interval.
        intervals = [job.health.interval for job in config.jobs if job.health is not None]
        timeout = max(1.0, min([10.0, *intervals]))
        self._calls = ConsulCalls(target, log)
        self.registrar = Registrar(self._calls, log, self._count_error, timeout)
        self.hub = WatchHub(ConsulAPI(self._calls), log, self._count_error)
        # A restarted agent holds a long poll sent with the old agent's index for its whole
        # wait: every poll starts over once the agent answers after an outage, or once the
        # registrar sees that it forgot us.
        self.registrar.on_agent_restart = self.hub.restart_all
        self._calls.reachability.on_back = self.hub.restart_all
        self._addresses: dict[str, str] = {}
        self._registered_jobs: dict[str, JobConfig] = {}
        self._watches: dict[str, WatchState] = {}
        self._queries: dict[str, Query] = {}
        self._elections: dict[str, LeaderElection] = {}
        self._resigning: set[asyncio.Task[None]] = set()
        self._reach_checked: set[str] = set()
        self._probes: set[asyncio.Task[None]] = set()
        self._watch_configs = {watch.name: watch for watch in config.watches}
        self._add_jobs(config.jobs)

    def start(self) -> None:
        """Follow job events and start the watches and elections."""
        self._bus.subscribe(self._on_event)
        for watch in self._watch_configs.values():
            self._add_watch(watch)
        for job in self._config.jobs:
            if job.leader is not None:
                self._start_election(job)

    def reconfigure(
        self, config: Config, replaced_jobs: set[str], replaced_watches: frozenset[str]
    ) -> None:
        """After a reload: forget replaced and removed jobs and watches (the reload plan's),
        add new ones."""
        new_jobs = {job.name: job for job in config.jobs}
        for name in set(self._addresses) | set(self._registered_jobs):
            if name in replaced_jobs or name not in new_jobs:
                self._addresses.pop(name, None)
                self._registered_jobs.pop(name, None)
                self.registrar.forget(name)
        for name in list(self._elections):
            if name in replaced_jobs or name not in new_jobs:
                task = asyncio.get_running_loop().create_task(self._elections.pop(name).resign())
                self._resigning.add(task)
                task.add_done_callback(self._resigning.discard)
        self._config = config
        self._add_jobs(
            tuple(
                job
                for name, job in new_jobs.items()
                if name not in self._registered_jobs and name not in self._addresses
            )
        )
        for name, job in new_jobs.items():
            if job.leader is not None and name not in self._elections:
                self._start_election(job)
        wanted = {watch.name: watch for watch in config.watches}
        for name in self._watch_configs:
            if name in replaced_watches:
                self.hub.unsubscribe(self._queries.pop(name), self._watches.pop(name).update)
        self._watch_configs = wanted
        for name, watch in wanted.items():
            if name not in self._watches:
                self._add_watch(watch)

    def _add_jobs(self, jobs: tuple[JobConfig, ...]) -> None:
        for job in jobs:
            if job.port is not None or job.interfaces:
                self._addresses[job.name] = resolve_address(job.interfaces)
            if job.port is not None and job.health is not None:
                self._registered_jobs[job.name] = job

    def _add_watch(self, watch: Watch) -> None:
        query = Query(
            "service" if watch.service else "key" if watch.key else "prefix",
            watch.service or watch.key or watch.prefix or "",
            tuple(sorted(watch.tags)),
            watch.datacenter,
            watch.passing if watch.service else False,  # as templates ask: one shared poll
            watch.wait,
        )
        state = WatchState(watch.name, watch.service is not None, self._bus, self._log)
        state.every_change = self._config.watch_every_change
        self._watches[watch.name], self._queries[watch.name] = state, query
        self.hub.subscribe(query, state.update)

    def environment(self) -> dict[str, str]:
        """PILOT_<JOB>_IP and PILOT_WATCH_<NAME> for the next run of any job."""
        prefixes = self._config.env_prefixes
        env = {
            f"{prefix}_{name.upper().replace('-', '_')}_IP": address
            for name, address in self._addresses.items()
            for prefix in prefixes
        }
        for name, state in self._watches.items():
            env[f"PILOT_WATCH_{name.upper().replace('-', '_')}"] = state.address_list()
        for name, election in self._elections.items():
            prefix = f"PILOT_{name.upper().replace('-', '_')}"
            env[f"{prefix}_ROLE"] = "leader" if election.elected else "follower"
            env[f"{prefix}_LEADER"] = election.leader_value or ""
        return env

    def watch_statuses(self) -> tuple[WatchStatus, ...]:
        """A snapshot of every watch."""
        return tuple(
            WatchStatus(name, len(state.instances), state.healthy, state.updates)
            for name, state in self._watches.items()
        )

    def election_statuses(self) -> dict[str, ElectionStatus]:
        """A snapshot of every election, by job."""
        return {
            name: ElectionStatus(
                name, "leader" if election.elected else "follower", election.leader_value
            )
            for name, election in self._elections.items()
        }

    @property
    def drain(self) -> float:
        """The longest drain among registered jobs: drains overlap, they do not add up."""
        return self._drain_of({job.name for job in self._config.jobs})

    def _drain_of(self, names: set[str]) -> float:
        return max(
            (
                job.drain
                for job in self._config.jobs
                if job.name in names
                and job.port is not None
                and self.registrar.is_registered(job.name)
            ),
            default=0.0,
        )

    def report(self, job: str, passing: bool, output: str) -> None:
        """A health result of `job`: its TTL check follows it."""
        config = self._registered_jobs.get(job)
        if config is None:
            return
        self.registrar.report(job, "passing" if passing else "critical", output)
        if passing and job not in self._reach_checked:
            self._reach_checked.add(job)
            task = asyncio.get_running_loop().create_task(self._check_reachable(config))
            self._probes.add(task)
            task.add_done_callback(self._probes.discard)

    async def _check_reachable(self, job: JobConfig) -> None:
        """Once a job checked on loopback first passes, try the address it advertises: an app
        that binds 127.0.0.1 only shows passing but is unreachable for everyone else."""
        target = _loopback_target(job)
        address = self._addresses.get(job.name)
        if target is None or address is None or job.port is None:
            return
        if ipaddress.ip_address(address).is_loopback:
            return
        try:
            async with asyncio.timeout(2.0):
                _, writer = await asyncio.open_connection(address, job.port)
            writer.close()
        except (OSError, TimeoutError):
            self._log.warn(
                f"{job.name}: its health check on {target} passes, but {address}:{job.port}, "
                "the address it advertises, does not accept connections: if the app listens on "
                "loopback only, others cannot reach it while Consul shows it passing"
            )

    async def retire(self, names: set[str]) -> None:
        """Before a reload stops jobs `names`: take their services out of Consul, then wait the
        longest of their drains, as shutdown does."""
        drain = self._drain_of(names)
        await asyncio.gather(*(self.registrar.withdraw(name) for name in names))
        if drain > 0:
            self._log.info(f"draining for {drain:g}s")
            await asyncio.sleep(drain)

    async def deregister_all(self) -> None:
        """Shutdown step 1: take every service out of Consul. Leadership is handed over later,
        once the jobs have stopped (`resign_all`), so two leaders' jobs never run at once."""
        self._registered_jobs.clear()  # results that arrive now are not reported
        await self.registrar.deregister_all()

    async def close(self) -> None:
        """Stop following events, end the watches and the registrar's calls."""
        self._bus.unsubscribe(self._on_event)
        self.hub.close()
        self.registrar.close()
        for election in self._elections.values():
            election.close()
        for task in (*self._resigning, *self._probes):
            task.cancel()
        await self._calls.close()

    def _on_event(self, event: Event, seq: int) -> None:
        job = self._registered_jobs.get(event.source)
        if job is not None and event.code == Code.STARTED:
            self._register(job)

    def job_over(self, name: str) -> None:
        """`name` has no process and nothing restarts it: take its service out of Consul (its
        next start registers it again)."""
        if self.registrar.is_registered(name):
            self._log.info(f"{name} is not running: deregistering its service")
        self.registrar.forget(name)

    def _register(self, job: JobConfig) -> None:
        self.registrar.register(
            service_record(job, self._addresses[job.name], role_tag=self._role_tag(job))
        )

    def _role_tag(self, job: JobConfig) -> str | None:
        election = self._elections.get(job.name)
        if election is None or job.leader is None:
            return None
        tags = job.leader.tags
        return tags.leader if election.elected else tags.follower

    def _start_election(self, job: JobConfig) -> None:
        assert job.leader is not None
        address = self._addresses.get(job.name) or resolve_address(job.interfaces)
        value = job.leader.value or (f"{address}:{job.port}" if job.port else address)

        def on_role(code: Code) -> None:
            self._bus.publish(code, job.name)
            kept = job.port is not None and self.registrar.keeps(job.name)
            if code != Code.FOLLOWING and kept:
                self._register(job)  # the role tag follows the role

        election = LeaderElection(job.name, job.leader, value, self._calls, self._log, on_role)
        self._elections[job.name] = election
        election.start()

    async def resign_all(self) -> None:
        """Leaders destroy their sessions so another instance takes over at once."""
        await asyncio.gather(*(election.resign() for election in self._elections.values()))

    def pause_elections(self, paused: bool) -> None:
        """Maintenance: leave every election until unpaused."""
        for election in self._elections.values():
            election.pause(paused)

    def _count_error(self, op: str) -> None:
        self.errors[op] = self.errors.get(op, 0) + 1


def _loopback_target(job: JobConfig) -> str | None:
    """`host:port` of the job's http or tcp check when it targets loopback, else None."""
    health = job.health
    if health is None:
        return None
    if health.http is not None:
        parts = urlsplit(health.http)
        host, port = parts.hostname or "", parts.port
    elif health.tcp is not None:
        host, _, port_text = health.tcp.rpartition(":")
        host, port = host.strip("[]"), int(port_text) if port_text.isdigit() else None
    else:
        return None
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return None
    return f"{host}:{port}" if loopback and port else None


class WatchState:
    """The latest answer of one configured watch, turned into changed/healthy/unhealthy events."""

    def __init__(self, name: str, is_service: bool, bus: EventBus, log: Log) -> None:
        self.name, self._is_service, self._bus, self._log = name, is_service, bus, log
        self.source = watch_source(name)
        self.data: Any = None
        self.healthy: bool | None = None
        self.updates = 0
        self.every_change = False  # ContainerPilot's: healthy/unhealthy after every `changed`

    @property
    def instances(self) -> tuple[Instance, ...]:
        return self.data if self._is_service and self.data is not None else ()

    def address_list(self) -> str:
        return ",".join(f"{i.address}:{i.port}" for i in self.instances)

    def update(self, data: Any) -> None:
        """A new answer from Consul."""
        self.updates += 1
        before = self.data
        self.data = data
        if self._is_service:
            old = None if before is None else sorted(i.identity for i in before)
            changed = old != sorted(i.identity for i in data)
            if self.every_change and before is None and not data:
                self.healthy = False  # ContainerPilot's first poll finding nobody says nothing
                return
            if changed:
                self._bus.publish(Code.CHANGED, self.source)
            healthy = any(instance.status == "passing" for instance in data)
            if healthy != self.healthy or (changed and self.every_change):
                self.healthy = healthy
                self._bus.publish(Code.HEALTHY if healthy else Code.UNHEALTHY, self.source)
        elif before != data:
            self._bus.publish(Code.CHANGED, self.source)
