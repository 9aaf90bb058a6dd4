"""Discovery for one pilot: registrations and health checks of its jobs, and its watches.
It reacts to job events on the bus and publishes health and watch events back."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping
from typing import Any

from pilot.config.consul_model import Watch
from pilot.config.model import Config, JobConfig
from pilot.consul.addresses import resolve_address
from pilot.consul.client import ConsulTarget
from pilot.consul.leader import LeaderElection
from pilot.consul.services import Registrar, service_record
from pilot.consul.watch import Instance, Query, WatchHub
from pilot.events import Event, EventBus
from pilot.health.checks import CheckResult
from pilot.health.monitor import HealthMonitor
from pilot.log import Log
from pilot.process.reaper import Reaper


class Discovery:
    """Registers jobs that have a port, runs health checks, and follows the config's watches."""

    def __init__(
        self,
        config: Config,
        target: ConsulTarget,
        bus: EventBus,
        reaper: Reaper,
        environment: Callable[[JobConfig], Mapping[str, str]],
        log: Log,
    ) -> None:
        self._config, self.target, self._bus, self._log = config, target, bus, log
        self._reaper, self._environment = reaper, environment
        self.errors: dict[str, int] = {}
        # A call to an agent that does not answer must not outlast a health interval: the
        # retry that notices the agent is back comes within one interval.
        intervals = [job.health.interval for job in config.jobs if job.health is not None]
        timeout = max(1.0, min([10.0, *intervals]))
        self.registrar = Registrar(target, log, self._count_error, timeout)
        self.hub = WatchHub(target, log, self._count_error)
        self.addresses: dict[str, str] = {}
        self.monitors: dict[str, HealthMonitor] = {}
        self.watches: dict[str, WatchState] = {}
        self._queries: dict[str, Query] = {}
        self.elections: dict[str, LeaderElection] = {}
        self._resigning: set[asyncio.Task[None]] = set()
        self._watch_configs = {watch.name: watch for watch in config.watches}
        self.check_timer: Callable[[str, float], None] | None = None  # (job, seconds): metrics
        self._add_jobs(config.jobs)

    def start(self) -> None:
        """Follow job events and start the watches."""
        self._bus.subscribe(self._on_event)
        for watch in self._watch_configs.values():
            self._add_watch(watch)
        for job in self._config.jobs:
            if job.leader is not None:
                self._start_election(job)

    def reconfigure(self, config: Config, replaced_jobs: set[str]) -> None:
        """After a reload: forget replaced and removed jobs, add new ones, diff the watches."""
        new_jobs = {job.name: job for job in config.jobs}
        for name in set(self.addresses) | set(self.monitors):
            if name in replaced_jobs or name not in new_jobs:
                monitor = self.monitors.pop(name, None)
                if monitor is not None:
                    monitor.stop()
                self.addresses.pop(name, None)
                self.registrar.forget(name)
        for name in list(self.elections):
            if name in replaced_jobs or name not in new_jobs:
                task = asyncio.get_running_loop().create_task(self.elections.pop(name).resign())
                self._resigning.add(task)
                task.add_done_callback(self._resigning.discard)
        self._config = config
        self._add_jobs(
            tuple(
                job
                for name, job in new_jobs.items()
                if name not in self.monitors and name not in self.addresses
            )
        )
        for name, job in new_jobs.items():
            if job.leader is not None and name not in self.elections:
                self._start_election(job)
        wanted = {watch.name: watch for watch in config.watches}
        for name, watch in self._watch_configs.items():
            if wanted.get(name) != watch:
                self.hub.unsubscribe(self._queries.pop(name), self.watches.pop(name).update)
        self._watch_configs = wanted
        for name, watch in wanted.items():
            if name not in self.watches:
                self._add_watch(watch)

    def _add_jobs(self, jobs: tuple[JobConfig, ...]) -> None:
        for job in jobs:
            if job.port is not None or job.interfaces:
                self.addresses[job.name] = resolve_address(job.interfaces)
            if job.health is not None:
                monitor = HealthMonitor(
                    job,
                    self._reaper,
                    _bound(self._environment, job),
                    self._bus.publish,
                    _reporter(self, job),
                    self._log,
                )
                monitor.observers.append(functools.partial(self._timed, job.name))
                self.monitors[job.name] = monitor

    def _add_watch(self, watch: Watch) -> None:
        query = Query(
            "service" if watch.service else "key" if watch.key else "prefix",
            watch.service or watch.key or watch.prefix or "",
            tuple(sorted(watch.tags)),
            watch.datacenter,
            watch.passing if watch.service else False,  # as templates ask: one shared thread
            watch.wait,
        )
        state = WatchState(watch.name, watch.service is not None, self._bus, self._log)
        self.watches[watch.name], self._queries[watch.name] = state, query
        self.hub.subscribe(query, state.update)

    def environment(self) -> dict[str, str]:
        """PILOT_<JOB>_IP and PILOT_WATCH_<NAME> for the next run of any job."""
        env = {
            f"PILOT_{name.upper().replace('-', '_')}_IP": address
            for name, address in self.addresses.items()
        }
        for name, state in self.watches.items():
            env[f"PILOT_WATCH_{name.upper().replace('-', '_')}"] = state.address_list()
        for name, election in self.elections.items():
            prefix = f"PILOT_{name.upper().replace('-', '_')}"
            env[f"{prefix}_ROLE"] = "leader" if election.elected else "follower"
            env[f"{prefix}_LEADER"] = election.leader_value or ""
        return env

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
        for monitor in self.monitors.values():
            monitor.stop()
        await self.registrar.deregister_all()

    def close(self) -> None:
        self._bus.unsubscribe(self._on_event)
        for monitor in self.monitors.values():
            monitor.stop()
        self.hub.close()
        self.registrar.close()

    def _on_event(self, event: Event, seq: int) -> None:
        monitor = self.monitors.get(event.source)
        if monitor is None:
            return
        job = monitor.job
        if event.code == "started":
            if job.port is not None:
                self._register(job)
            monitor.start()
        elif event.code in ("exitSuccess", "exitFailed"):
            monitor.stop(reason=f"{job.name} is not running ({event.code})")

    def _timed(self, job: str, seconds: float) -> None:
        if self.check_timer is not None:
            self.check_timer(job, seconds)

    def job_over(self, name: str) -> None:
        """`name` has no process and nothing restarts it: take its service out of Consul (its
        next start registers it again)."""
        if self.registrar.is_registered(name):
            self._log.info(f"{name} is not running: deregistering its service")
        self.registrar.forget(name)

    def _register(self, job: JobConfig) -> None:
        self.registrar.register(
            service_record(job, self.addresses[job.name], role_tag=self._role_tag(job))
        )

    def _role_tag(self, job: JobConfig) -> str | None:
        election = self.elections.get(job.name)
        if election is None or job.leader is None:
            return None
        tags = job.leader.tags
        return tags.leader if election.elected else tags.follower

    def _start_election(self, job: JobConfig) -> None:
        assert job.leader is not None
        address = self.addresses.get(job.name) or resolve_address(job.interfaces)
        value = job.leader.value or (f"{address}:{job.port}" if job.port else address)

        def on_role(code: str) -> None:
            self._bus.publish(code, job.name)
            kept = job.port is not None and self.registrar.keeps(job.name)
            if code != "following" and kept:
                self._register(job)  # the role tag follows the role

        election = LeaderElection(job.name, job.leader, value, self.target, self._log, on_role)
        self.elections[job.name] = election
        election.start()

    async def resign_all(self) -> None:
        """Leaders destroy their sessions so another instance takes over at once."""
        elections = list(self.elections.values())
        self.elections.clear()
        await asyncio.gather(*(election.resign() for election in elections))

    def pause_elections(self, paused: bool) -> None:
        for election in self.elections.values():
            election.pause(paused)

    def _count_error(self, op: str) -> None:
        self.errors[op] = self.errors.get(op, 0) + 1


class WatchState:
    """The latest answer of one configured watch, turned into changed/healthy/unhealthy events."""

    def __init__(self, name: str, is_service: bool, bus: EventBus, log: Log) -> None:
        self.name, self._is_service, self._bus, self._log = name, is_service, bus, log
        self.source = f"watch.{name}"
        self.data: Any = None
        self.healthy: bool | None = None
        self.updates = 0

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
            if old != sorted(i.identity for i in data):
                self._bus.publish("changed", self.source)
            healthy = any(instance.status == "passing" for instance in data)
            if healthy != self.healthy:
                self.healthy = healthy
                self._bus.publish("healthy" if healthy else "unhealthy", self.source)
        elif before != data:
            self._bus.publish("changed", self.source)


def _bound(
    environment: Callable[[JobConfig], Mapping[str, str]], job: JobConfig
) -> Callable[[], Mapping[str, str]]:
    return lambda: environment(job)


def _reporter(discovery: Discovery, job: JobConfig) -> Callable[[CheckResult], None]:
    def report(result: CheckResult) -> None:
        if job.port is not None:
            discovery.registrar.report(
                job.name, "passing" if result.passing else "critical", result.output
            )

    return report
