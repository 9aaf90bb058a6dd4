"""Builds and owns the parts of one pilot (jobs, health, Consul, templates, servers), routes
signals and events between them, and runs until the main job is over (as `Config.ending` says)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Coroutine, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from pilot.app.commands import SupervisorCommands
from pilot.app.environment import Environment
from pilot.app.logfiles import keep_logs
from pilot.app.mode import Mode, ModeFactory
from pilot.app.shutdown import Shutdown
from pilot.app.signals import install_handlers
from pilot.app.snapshot import snapshot
from pilot.app.triggers import Triggers
from pilot.config.errors import ConfigError
from pilot.config.model import Config, Ending, JobConfig
from pilot.events import GLOBAL, Code, EventBus
from pilot.health.jobs import JobHealth
from pilot.interface.commands import CommandError
from pilot.interface.status import Status
from pilot.log import Log
from pilot.process.early import EarlyRun, take_charge
from pilot.process.job import Job
from pilot.process.reaper import Reaper
from pilot.process.signals import EVENT_SIGNALS, IGNORED_SIGNALS, SHUTDOWN_SIGNALS
from pilot.process.spawn import foreground_terminal, spawn
from pilot.render.envfiles import DecodedFile, exported_paths, write_files


class Server(Protocol):
    """What pilot serves besides its jobs (control socket, telemetry, traffic monitor): closed
    at exit, in the order started."""

    async def close(self) -> None: ...


if TYPE_CHECKING:  # imported when the config uses them, to keep start-up light
    from pilot.app.build import Builds
    from pilot.app.plan import ReloadPlan
    from pilot.consul.discovery import Discovery
    from pilot.devconsul.server import DevConsul
    from pilot.health.checks import CheckResult
    from pilot.process.logbuffer import LogBuffer
    from pilot.render.templates import Templates
    from pilot.telemetry.metrics import Metrics
    from pilot.traffic.monitor import TrafficMonitor


async def supervise(
    config: Config, files: list[DecodedFile], log: Log, early: EarlyRun | None = None
) -> int:
    """Run one pilot on the running loop (its main job's first run `early`, when started
    before the loop); returns the code pilot exits with."""
    return await Supervisor(config, files, log, early=early).run()


class Supervisor:
    """One pilot: supervises the jobs of `config`, then returns the code pilot exits with.

    Built on the running loop (see `supervise`); what a kind of pilot adds (`pilot up`'s
    stack) is its `mode`, built by `mode(self)`. Control and telemetry see it only through
    `commands` and the `status()` snapshot; its helpers through `PilotView`. Only the
    supervisor assigns its fields.
    """

    def __init__(
        self,
        config: Config,
        files: list[DecodedFile],
        log: Log,
        mode: ModeFactory = Mode,
        *,
        early: EarlyRun | None = None,
    ) -> None:
        self._config, self._files, self._log = config, files, log
        self._early = early
        self._logs = keep_logs(config, log)
        self._loop = asyncio.get_running_loop()
        self._reaper = Reaper(on_orphan=self._on_orphan)
        if early is not None and early.pid is not None:
            self._reaper.expect(early.pid)
        self.bus = EventBus(log)
        self.mode = mode(self)
        self._environment = Environment(
            exported_paths(files),
            self.running_pids,
            config.env_prefixes,
            sources=(self._consul_environment, *self.mode.environment_sources()),
            job_sources=self.mode.job_environment_sources(),
        )
        # an early main job has taken the terminal already: pilot had it when it started
        self._terminal = foreground_terminal() if early is None else early.terminal
        self.health = JobHealth(
            self.bus, self._reaper, self._environment.for_job, log, self._stopped_by_pilot
        )
        self.health.set_jobs(config.jobs)
        self.jobs: dict[str, Job] = {cfg.name: self.make_job(cfg) for cfg in config.jobs}
        self._retiring: dict[str, Job] = {}  # jobs a reload is stopping
        self.triggers = Triggers(self.bus, self.jobs, log)
        self.commands = SupervisorCommands(self)
        self._builds: Builds | None = None
        self._discovery: Discovery | None = None
        self._embedded_registry: DevConsul | None = None
        self.templates: Templates | None = None
        self._metrics: Metrics | None = None
        self.maintenance = False
        self._servers: list[Server] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reload_lock = asyncio.Lock()
        self._shutdown: Shutdown | None = None
        self._shutdown_signal: int | None = None
        self._announced: set[Job] = set()  # jobs whose stopping/stopped told they were over
        self._finished: asyncio.Future[int] = self._loop.create_future()

    async def run(self) -> int:
        """Supervise until the config's end (the main job over, by default), shut down, and
        return the exit code."""
        install_handlers(self._loop, self._on_signal)
        if self._early is None:
            take_charge(self.log)
        try:
            await self.mode.prepare()
            if self.config.uses_consul:
                self.start_discovery()
            await self._start_servers()
            await self.mode.servers_started()
            write_files(self._files)  # last: a config that cannot start writes nothing
        except (ConfigError, ValueError, LookupError, OSError) as error:  # SocketInUse too
            self.log.error(f"cannot start: {error}")
            if self._early is not None:
                self._early.abandon()
            await self._close()
            return 2
        await self.mode.before_startup()
        for job in self.jobs.values():
            self.triggers.arm(job)
        self.bus.publish(Code.STARTUP, GLOBAL)
        if self._early is not None:  # adopted by now: what happened before the loop, in order
            for signum in self._early.recorder.take():
                self._on_signal(signum)
            self.reaper.reap()
        self._check_done()
        code = await self._finished
        await asyncio.gather(*(job.wait_leftovers() for job in self.jobs.values()))
        await self._close()
        return code

    # What the helpers read (PilotView).

    @property
    def config(self) -> Config:
        """The config this pilot runs (the last one a reload applied)."""
        return self._config

    @property
    def log(self) -> Log:
        """pilot's own log."""
        return self._log

    @property
    def reaper(self) -> Reaper:
        """The one owner of waitpid."""
        return self._reaper

    @property
    def environment(self) -> Environment:
        """The environment each run of a job starts with."""
        return self._environment

    @property
    def logs(self) -> LogBuffer:
        """The jobs' kept output (`pilot logs`)."""
        return self._logs

    @property
    def main(self) -> Job:
        """The job whose end ends pilot (derived from the config)."""
        return self.jobs[self.config.main_job.name]

    @property
    def discovery(self) -> Discovery | None:
        """Consul: registrations, watches, elections (when the config uses Consul)."""
        return self._discovery

    @property
    def embedded_registry(self) -> DevConsul | None:
        """The embedded Consul-compatible registry (`consul: "embedded"`)."""
        return self._embedded_registry

    @property
    def metrics(self) -> Metrics | None:
        """Prometheus metrics (when telemetry is configured)."""
        return self._metrics

    @property
    def traffic(self) -> TrafficMonitor | None:
        """pilot up's traffic monitor, when a service is monitored."""
        return self.mode.traffic

    async def _close(self) -> None:
        self.reaper.reap()
        for task in self._tasks:
            task.cancel()
        await self.mode.close()
        for server in self._servers:
            await server.close()
        self.health.close()
        if self.templates is not None:
            self.templates.close()
        if self._discovery is not None:
            await self._discovery.close()
        if self._embedded_registry is not None:
            self._embedded_registry.stop()

    # Parts started when the config asks for them.

    def start_discovery(self) -> None:
        """Consul: an embedded registry if asked, registrations, watches, elections."""
        from pilot.consul.addresses import check_job_addresses
        from pilot.consul.client import resolve_target
        from pilot.consul.discovery import Discovery

        check_job_addresses(self.config)
        embedded = None
        if self.config.consul.embedded:
            from pilot.devconsul.server import DevConsul

            registry = DevConsul(self.config.consul.listen, dns=self.config.consul.dns)
            registry.start()
            self._embedded_registry = registry
            embedded = registry.address
            self.log.info(f"embedded Consul-compatible registry on {embedded}")
        target = resolve_target(self.config.consul, os.environ, embedded)
        discovery = Discovery(self.config, target, self.bus, self.log)
        self.health.add_listener(
            lambda job, result, _seconds: discovery.report(job, result.passing, result.output)
        )
        discovery.start()
        self._discovery = discovery
        if self.config.templates:
            self.start_templates()
        self.mode.discovery_started()

    def _consul_environment(self) -> Mapping[str, str]:
        return {} if self._discovery is None else self._discovery.environment()

    def start_templates(self) -> None:
        """Render the config's templates from the discovery's watch hub."""
        from pilot.render.templates import Templates

        assert self.discovery is not None
        self.templates = Templates(
            self.config, self.discovery.hub, self, self.bus.publish, self.log, os.environ
        )
        self.templates.start()

    async def _start_servers(self) -> None:
        """The control socket (unless the config serves none) and telemetry (when configured)."""
        if self.config.serves_control:
            from pilot.control.server import ControlServer

            control = ControlServer(self.config.control.path, self.commands, self.log)
            await control.start()
            self._servers.append(control)
            self.environment.put_default("PILOT_SOCKET", control.path)
        telemetry = self.config.telemetry
        if telemetry is None:
            return
        from pilot.consul.addresses import resolve_address
        from pilot.telemetry.metrics import Metrics
        from pilot.telemetry.server import TelemetryServer

        metrics = self._metrics = Metrics(self.status, telemetry)
        self.bus.subscribe(metrics.on_event)
        self.health.add_listener(
            lambda job, _result, seconds: metrics.check_seconds.labels(job=job).observe(seconds)
            if seconds > 0
            else None
        )
        server = TelemetryServer(
            resolve_address(telemetry.interfaces), telemetry.port, metrics, self.commands, self.log
        )
        await server.start()
        self._servers.append(server)
        self.log.info(f"telemetry on {server.host}:{server.port}")
        if telemetry.register and self.discovery is not None:
            from pilot.telemetry.advertise import Advertiser

            self._servers.append(
                Advertiser(
                    self.discovery.registrar,
                    server.host,
                    server.port,
                    telemetry.service,
                    telemetry.tags,
                    telemetry.service_id,
                )
            )

    # What the commands and template actions act through.

    @property
    def builds(self) -> Builds:
        """The jobs' builds (`pilot ctl rebuild`, `watch`), set up when first asked for."""
        if self._builds is None:
            from pilot.app.build import Builds

            self._builds = Builds(self)
        return self._builds

    def job(self, name: str) -> Job | None:
        """The running job called `name`, if any."""
        return self.jobs.get(name)

    def putenv(self, values: dict[str, str]) -> None:
        """Variables for the next run of every job (and of a reloaded config's `${VAR}`)."""
        self.environment.put(values)

    def status(self) -> Status:
        """A frozen snapshot of everything this pilot runs (built by `app.snapshot` only)."""
        discovery = self._discovery
        return self.mode.status(
            snapshot(self.jobs, self.health, discovery, self.templates, self.maintenance)
        )

    async def set_maintenance(self, enable: bool, reason: str | None) -> None:
        """Maintenance: services in Consul maintenance mode, checks run but are not reported."""
        if enable == self.maintenance:
            return
        self.maintenance = enable
        self.bus.publish(Code.ENTER_MAINTENANCE if enable else Code.EXIT_MAINTENANCE, GLOBAL)
        if self.discovery is not None:
            self.discovery.registrar.set_maintenance((reason or "") if enable else None)
            self.discovery.pause_elections(enable)

    async def reload(self) -> None:
        """Re-read the config file and apply only what changed (`app.plan`); a bad config
        changes nothing.

        Raises:
            CommandError(400): the new config is invalid, or changes what only a restart can.
        """
        from pilot.app.plan import plan_reload
        from pilot.app.reload import read_reload, write_reload_files

        async with self._reload_lock:  # a SIGHUP and a ctl reload at once apply one by one
            environ = {**os.environ, **self.environment.overrides}
            new, files = await read_reload(self.mode.load, self.config.path, environ, self.log)
            plan = plan_reload(self.config, new)
            refusal = plan.refusal or ("pilot is shutting down" if self.shutting_down else None)
            if refusal is not None:
                self.log.error(f"reload rejected: {refusal}")
                raise CommandError(400, f"reload rejected: {refusal}")
            write_reload_files(files, self.log)
            self.environment.set_exports(exported_paths(files))
            await self._apply(plan, new)
            self.log.info("config reloaded")
            await self.mode.reloaded()

    async def _apply(self, plan: ReloadPlan, new: Config) -> None:
        self.log.info(
            "reloading",
            unchanged=len(plan.unchanged),
            stopped=len(plan.stopped),
            started=len(plan.started),
        )
        retired = [self.jobs[name] for name in plan.stopped]
        kept = {name: self.jobs[name] for name in plan.unchanged}
        self.jobs = dict(kept)  # from now on a retired job ending (even the main) is not noticed
        self._retiring = {job.name: job for job in retired}
        if self._discovery is not None:
            await self._discovery.retire(set(plan.stopped))
        for job in retired:
            await job.stop()
        self._retiring = {}
        self._config = new
        jobs = {cfg.name: kept.get(cfg.name) or self.make_job(cfg) for cfg in new.jobs}
        self.triggers.replace_jobs(jobs)
        self.jobs = jobs
        self.log.configure(new.logging.level, new.logging.format, tuple(jobs))
        self.health.set_jobs(new.jobs)
        if self._discovery is not None:
            self._discovery.reconfigure(new, set(plan.stopped), plan.watches.replaced)
            if self.templates is not None:
                self.templates.reconfigure(new, plan.templates.replaced)
            elif new.templates:
                self.start_templates()
        elif new.uses_consul:
            self.start_discovery()
        for name in plan.started:
            self.triggers.arm(self.jobs[name])

    def signal_job(self, name: str, signum: int) -> bool:
        """Template action: send `signum` to job `name`'s group; False when it is not running."""
        job = self.jobs.get(name)
        return job is not None and job.signal(signum)

    async def restart_job(self, name: str) -> None:
        """Template action: restart job `name` (a job stopped through ctl stays stopped)."""
        job = self.jobs.get(name)
        if job is not None:
            await job.restart()

    async def run_command(self, argv: tuple[str, ...], timeout: float) -> CheckResult:
        """Run a command (template check, on-change exec) the one way pilot runs processes."""
        from pilot.health.checks import exec_check

        return await exec_check(argv, timeout, self.reaper, self.environment.base())

    def make_job(self, cfg: JobConfig) -> Job:
        """A supervised job for `cfg` (a job with `terminal: true` gets pilot's terminal, if
        pilot has one; the others, and pilot itself, keep Ctrl-C for pilot's shutdown)."""
        terminal = self._terminal if cfg.terminal else None
        early = self._early
        if early is not None and cfg.name != self.config.main_job.name:
            early = None
        return Job(
            cfg,
            self.reaper,
            self.bus.publish,
            self.environment.for_job,
            self.log,
            self._on_settled,
            terminal,
            spawner=spawn if early is None else early.spawner(spawn),
        )

    @property
    def shutting_down(self) -> bool:
        """Whether the shutdown sequence has begun."""
        return self._shutdown is not None

    def spawn_task(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        """Run `coroutine` as a task pilot owns: kept referenced, cancelled at exit."""
        task = self._loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # Signals, exits and the shutdown sequence.

    def _stopped_by_pilot(self, name: str) -> bool:
        job = self.jobs.get(name) or self._retiring.get(name)
        return job is not None and job.stopped_by_pilot

    def running_pids(self) -> dict[str, int]:
        """The pid of each running job."""
        return {name: job.pid for name, job in self.jobs.items() if job.pid is not None}

    def _on_signal(self, signum: int) -> None:
        if signum == signal.SIGCHLD:
            self.reaper.reap()
            return
        name = signal.Signals(signum).name
        if signum in SHUTDOWN_SIGNALS:
            self.log.info(f"received {name}, shutting down")
            self._begin_shutdown(signum)
            return
        if signum in IGNORED_SIGNALS:
            self.log.debug(f"ignored {name}")
            return
        if signum in EVENT_SIGNALS:
            self.bus.publish(name, name)
        if signum == signal.SIGHUP and self.config.reload_on_sighup:
            self.spawn_task(self._reload_quietly())
        for job in self.jobs.values():
            if signum in job.config.forward or (signum == signal.SIGWINCH and job.config.terminal):
                job.signal(signum)

    async def _reload_quietly(self) -> None:
        """A reload asked by signal: a rejected config is logged (by reload), not raised."""
        from pilot.interface.commands import CommandError

        with contextlib.suppress(CommandError):
            await self.reload()

    def _on_orphan(self, pid: int, status: int) -> None:
        self.log.debug("reaped orphan", pid=pid, status=status)

    def _on_settled(self, job: Job) -> None:
        if self.jobs.get(job.name) is not job:  # a job a reload retired
            return
        if self.discovery is not None and self._shutdown is None:
            self.discovery.job_over(job.name)
        self._loop.call_soon(self._after_settled, job)

    def _after_settled(self, job: Job) -> None:
        if self._untold_end(job):  # ContainerPilot's events of a job at its end
            self._announced.add(job)
            self.bus.publish(Code.STOPPING, job.name)
            self.bus.publish(Code.STOPPED, job.name)
        self._check_done()

    def _untold_end(self, job: Job) -> bool:
        return (
            self.config.announces_over
            and self._shutdown is None
            and job not in self._announced
            and not self._not_over(job)
        )

    @property
    def _ending(self) -> Ending:
        return self.config.ending if self.mode.ends_with_main_job else Ending.NEVER

    def _check_done(self) -> None:
        """Shut down once the main job (ContainerPilot's: every job) is over for good, or can
        never start."""
        if self._shutdown is not None or self._ending is Ending.NEVER:
            return
        if self._ending is Ending.EVERY_JOB:
            if any(self._not_over(job) for job in self.jobs.values()):
                return
            self.log.info("every job is over, shutting down")
            self._begin_shutdown(None)
            return
        main = self.main
        if self._may_run(main):
            return
        if main.runs == 0:
            self.log.error(f"main job {main.name} can no longer start; shutting down")
        else:
            self.log.info(f"main job {main.name} is over, shutting down")
        self._begin_shutdown(None)

    def _may_run(self, job: Job) -> bool:
        """Whether `job` runs, or may run again: not over for good."""
        return job.held or job.state.active or self.triggers.may_start_later(job)

    def _not_over(self, job: Job) -> bool:
        """ContainerPilot's count: a job is over once it ran and may not run again; one that
        waits for an event that can no longer come is not (a hook is run by the shutdown)."""
        hook = job.name in self.triggers.hooks
        return self._may_run(job) or (not hook and self.triggers.waits(job))

    def _begin_shutdown(self, signum: int | None) -> None:
        if self._shutdown is not None:
            if signum is not None:
                self.log.warn(
                    "another signal: killing the post-stop hooks too"
                    if self._shutdown.forced
                    else "second signal: killing every job now; post-stop hooks still run"
                )
                self._shutdown.force()
            return
        self._shutdown_signal = signum
        discovery = self._discovery
        shutdown = Shutdown(
            list(self.jobs.values()),
            self.bus,
            self.triggers,
            self.log,
            self.config.stop_timeout,
            deregister=None if discovery is None else self._leave_consul,
            release=None if discovery is None else discovery.resign_all,
            signum=signum,
            announced=frozenset(self._announced),
        )
        self._shutdown = shutdown
        self.spawn_task(self._shut_down(shutdown))

    async def _leave_consul(self) -> float:
        """Shutdown steps 1-2: stop reporting health, deregister everything; return how long
        to drain."""
        assert self.discovery is not None
        drain = self.discovery.drain
        self.health.stop_all()
        await self.discovery.deregister_all()
        return drain

    async def _shut_down(self, shutdown: Shutdown) -> None:
        await shutdown.run()
        if self.discovery is not None:
            await self.discovery.resign_all()  # after a forced stop too (a no-op if done)
        self._finished.set_result(self._exit_code())

    def _exit_code(self) -> int:
        if self._ending is not Ending.MAIN_JOB:
            return 0
        code = self.main.last_exit
        if code is None:
            code = 128 + self._shutdown_signal if self._shutdown_signal else 1
        return dict(self.config.exit_codes.map).get(code, code)

