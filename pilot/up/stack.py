"""`pilot up`: the supervisor as a developer's stack. Several services from one file, on the
embedded registry (HTTP and DNS) unless `consul` is set, at ports kept across restarts, each
told its own port (`PORT`) and where the others are (`<NAME>_ADDR`, `<NAME>_URL`,
`CONSUL_HTTP_ADDR`, `CONSUL_DNS_ADDR`), rebuilt one at a time on request or on file changes;
it runs until Ctrl-C."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from pilot.app.mode import JobSource, Mode, Source
from pilot.app.supervisor import Supervisor
from pilot.app.view import PilotView
from pilot.config.callback_jobs import callback_url
from pilot.config.load import load_config
from pilot.config.model import Config, JobConfig
from pilot.config.ops_model import Control
from pilot.config.up_mode import PortAllocator
from pilot.config.up_model import MonitorConfig
from pilot.config.validate import SOCKET_PATH_MAX
from pilot.interface.commands import CommandError
from pilot.interface.status import Resolution, Status
from pilot.log import Log
from pilot.render.envfiles import DecodedFile
from pilot.up.filewatch import watch_files
from pilot.up.ports import STATE_DIR, PortState

if TYPE_CHECKING:
    from pilot.traffic.monitor import TrafficMonitor
    from pilot.up.remote import RemoteServices

REMOTE_FIRST_WAIT = 10.0  # seconds the jobs wait for the remote Consul's first answers


def prepare(path: str) -> PortState:
    """Enter the config file's directory (paths in the file are relative to it) and open the
    stack's kept ports, in `.pilot/` beside the file."""
    base = os.path.dirname(os.path.abspath(path))
    os.chdir(base)
    return PortState(os.path.join(base, STATE_DIR))


def already_up(path: str) -> bool:
    """Whether a `pilot up` of the config at `path` answers on its default socket."""
    from pilot.process.sockets import unix_socket_answers

    return unix_socket_answers(up_socket(path))


def stack_config(config: Config) -> Config:
    """The control socket defaults to `.pilot/pilot.sock` beside the file (one per stack), so
    that `pilot ctl` and `pilot logs` run there find it."""
    if config.control.socket is not None:
        return config
    path = up_socket(config.path)
    if len(os.fsencode(path)) > SOCKET_PATH_MAX:
        return config  # too deep for a unix socket: the default one
    return dataclasses.replace(config, control=Control(socket=path))


def up_socket(config_path: str) -> str:
    """Where `pilot up` of the config at `config_path` listens by default."""
    return os.path.join(os.path.dirname(os.path.abspath(config_path)), STATE_DIR, "pilot.sock")


def env_name(service: str) -> str:
    """`api-v2` → `API_V2`, the stem of `API_V2_ADDR` and `API_V2_URL`."""
    return "".join(c if c.isalnum() else "_" for c in service.upper())


def own_port(job: JobConfig) -> dict[str, str]:
    """`PORT`: the port a job with one listens on (a monitored one: behind its proxy)."""
    port = job.upstream_port or job.port
    return {} if port is None else {"PORT": str(port)}


async def supervise_stack(
    config: Config, files: list[DecodedFile], log: Log, ports: PortAllocator
) -> int:
    """Run a `pilot up` stack keeping its ports with `ports` on the running loop; returns the
    code pilot exits with."""
    return await Supervisor(config, files, log, mode=lambda pilot: Stack(pilot, ports)).run()


class Stack(Mode):
    """What `pilot up` adds to the supervisor: it runs until stopped (no main job) and tells
    each job where the services of the stack are."""

    ends_with_main_job = False

    def __init__(self, pilot: PilotView, ports: PortAllocator) -> None:
        super().__init__(pilot)
        self._ports = ports
        self._remote: RemoteServices | None = None
        self.traffic: TrafficMonitor | None = None

    def load(self, path: str, environ: Mapping[str, str]) -> Config:
        """Read the config file as `pilot up` does, its ports kept (a reload)."""
        return stack_config(load_config(path, environ, up=self._ports))

    def environment_sources(self) -> tuple[Source, ...]:
        return (self.addresses,)

    def job_environment_sources(self) -> tuple[JobSource, ...]:
        return (own_port,)

    async def prepare(self) -> None:
        config = self.pilot.config
        if config.consul.embedded:
            os.environ.pop("CONSUL_HTTP_ADDR", None)  # the stack's registry, not the shell's
        for job in config.jobs:
            if job.watch is not None:
                self.pilot.spawn_task(
                    watch_files(
                        job.name,
                        job.watch,
                        os.path.dirname(config.path),
                        self.pilot.builds.on_change,
                        self.pilot.log,
                    )
                )
        self.pilot.log.info(
            f"pilot up: {len(config.jobs)} jobs; Ctrl-C stops them; "
            f"pilot ctl and pilot logs use {config.control.path}"
        )

    def addresses(self) -> dict[str, str]:
        """`<NAME>_ADDR` (host:port) and `<NAME>_URL` of every service, the registry's
        `CONSUL_HTTP_ADDR` and, when it answers DNS, `CONSUL_DNS_ADDR`."""
        from pilot.consul.addresses import resolve_address

        env: dict[str, str] = {}
        for job in self.pilot.config.jobs:
            if job.port is None:
                continue
            host = resolve_address(job.interfaces)
            host = f"[{host}]" if ":" in host else host
            name = env_name(job.service_name)
            env[f"{name}_ADDR"] = f"{host}:{job.port}"
            env[f"{name}_URL"] = f"http://{host}:{job.port}"
            if job.callback is not None:
                env[f"{name}_CALLBACK_URL"] = callback_url(job.callback, job.callback.port)
        if self._remote is not None:
            for name in self._remote.names:
                instances = self._remote.instances.get(name)
                if instances:
                    first = instances[0]
                    env[f"{env_name(name)}_ADDR"] = f"{first.address}:{first.port}"
                    env[f"{env_name(name)}_URL"] = f"http://{first.address}:{first.port}"
        registry = self.pilot.embedded_registry
        discovery = self.pilot.discovery
        if registry is not None:
            env["CONSUL_HTTP_ADDR"] = registry.address
            if registry.dns is not None:
                env["CONSUL_DNS_ADDR"] = registry.dns.address
        elif discovery is not None:
            env["CONSUL_HTTP_ADDR"] = discovery.target.url
        return env

    async def servers_started(self) -> None:
        """The traffic monitor when a service is monitored (before any job starts, so that no
        call to a monitored service goes unseen)."""
        await self._follow_monitor()

    async def reloaded(self) -> None:
        """The monitor's proxies follow the monitored jobs (the monitor starts when a reload
        monitors the first service)."""
        try:
            await self._follow_monitor()
        except OSError as error:
            self.pilot.log.error(f"traffic monitor: {error}")
            raise CommandError(500, f"reloaded, but the traffic monitor: {error}") from None

    async def _follow_monitor(self) -> None:
        config = self.pilot.config
        if self.traffic is not None:
            await self.traffic.apply(config)
        elif any(job.upstream_port is not None for job in config.jobs):
            from pilot.traffic.monitor import TrafficMonitor  # h11 and the proxy: only when used

            self.traffic = TrafficMonitor(
                config.monitor or MonitorConfig(), self.pilot.running_pids, self.pilot.log
            )
            await self.traffic.start(config)

    def discovery_started(self) -> None:
        """The remote services copied into the registry."""
        config = self.pilot.config
        discovery = self.pilot.discovery
        remote = config.remote
        assert discovery is not None
        if remote is not None:
            from pilot.up.remote import RemoteServices

            local = {job.service_name for job in config.jobs if job.port is not None}
            names = [name for name in remote.services if name not in local]
            if names:
                self._remote = RemoteServices(remote, names, discovery.target, self.pilot.log)
                self._remote.start()

    async def before_startup(self) -> None:
        """Jobs start once every remote service has been answered for (at most
        REMOTE_FIRST_WAIT), so that their environment holds its address."""
        remote = self._remote
        if remote is not None and not await remote.answered(REMOTE_FIRST_WAIT):
            missing = ", ".join(n for n in remote.names if n not in remote.instances)
            self.pilot.log.warn(
                f"no answer yet from the remote Consul for {missing}; starting anyway"
            )

    def status(self, status: Status) -> Status:
        """The supervisor's status, with where each service of the stack resolves."""
        addresses = self.addresses()
        resolutions = [
            Resolution(
                job.service_name, "local", addresses.get(f"{env_name(job.service_name)}_ADDR")
            )
            for job in self.pilot.config.jobs
            if job.port is not None
        ]
        if self._remote is not None:
            for name in self._remote.names:
                instances = self._remote.instances.get(name) or ()
                address = f"{instances[0].address}:{instances[0].port}" if instances else None
                resolutions.append(Resolution(name, "remote" if instances else "nowhere", address))
        page = self.traffic.page if self.traffic is not None else None
        return dataclasses.replace(
            status,
            resolutions=tuple(resolutions),
            monitor=None if page is None else f"http://{page.address}/",
        )

    async def close(self) -> None:
        """The remote services (an embedded registry goes with the stack, an agent stays),
        then the traffic monitor."""
        if self._remote is not None:
            await self._remote.close(forget=not self.pilot.config.consul.embedded)
        if self.traffic is not None:
            await self.traffic.close()
