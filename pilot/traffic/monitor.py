"""The traffic monitor of `pilot up`: a recording proxy on the port of each monitored service
(the service itself listens on its internal port, `PORT`), the exchanges they keep, and the
page that shows them. Imported only when the config monitors a service."""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Callable, Mapping
from typing import Any

from pilot.config.model import Config, JobConfig
from pilot.config.up_model import DEFAULT_MONITOR_LISTEN, MonitorConfig, split_host_port
from pilot.log import Log
from pilot.traffic.peers import SocketOwners
from pilot.traffic.proxy import RecordingProxy
from pilot.traffic.store import TrafficStore
from pilot.traffic.web import MonitorPage


class TrafficMonitor:
    """The proxies of the monitored services and the page; `running_pids` names the pid of
    each running job, to tell which local service made a call."""

    def __init__(
        self, settings: MonitorConfig, running_pids: Callable[[], Mapping[str, int]], log: Log
    ) -> None:
        self.settings, self._running_pids, self._log = settings, running_pids, log
        self.store = TrafficStore(settings.keep)
        self._proxies: dict[str, tuple[tuple[Any, ...], RecordingProxy]] = {}
        self._services: dict[str, str] = {}  # job name -> service name
        self.page: MonitorPage | None = None
        self._owners = SocketOwners()

    async def start(self, config: Config) -> None:
        """Serve the page and a proxy for each monitored job of `config`.

        Raises:
            OSError: a port cannot be listened on.
        """
        self.page = await self._serve_page()
        await self.apply(config)
        names = ", ".join(sorted(self._proxies)) or "none yet"
        self._log.info(f"traffic monitor on http://{self.page.address}/ (monitoring {names})")

    async def _serve_page(self) -> MonitorPage:
        """The page on `listen`; on the default address, the next free port of the ten after
        it when another stack has it (as ngrok does with 4040)."""
        host, port = split_host_port(self.settings.listen)
        tries = 10 if self.settings.listen == DEFAULT_MONITOR_LISTEN else 1
        for attempt in range(tries):
            page = MonitorPage(host, port + attempt, self.store, self._log)
            try:
                await page.start()
                return page
            except OSError as error:
                failure = error
                if error.errno != errno.EADDRINUSE:
                    break
        raise OSError(failure.errno, f"monitor.listen {host}:{port}: {failure.strerror}")

    async def apply(self, config: Config) -> None:
        """Proxies for the monitored jobs of `config`: new ones started, those whose ports
        changed moved, those no longer monitored closed."""
        from pilot.consul.addresses import resolve_address

        wanted = {job.name: job for job in config.jobs if job.upstream_port is not None}
        self._services = {job.name: job.service_name for job in config.jobs}
        for name in list(self._proxies):
            if name not in wanted or self._proxies[name][0] != _key(wanted[name]):
                await self._proxies.pop(name)[1].close()
        for name, job in wanted.items():
            if name in self._proxies:
                continue
            assert job.port is not None and job.upstream_port is not None
            proxy = RecordingProxy(
                job.service_name,
                (resolve_address(job.interfaces), job.port),
                ("127.0.0.1", job.upstream_port),
                self.store,
                self._log,
                body_limit=self.settings.body_limit,
                unmasked=frozenset(header.lower() for header in self.settings.unmask),
                identify=self._identify,
            )
            await proxy.start()
            self._proxies[name] = (_key(job), proxy)

    async def close(self) -> None:
        """Stop the proxies and the page."""
        for _, proxy in self._proxies.values():
            await proxy.close()
        self._proxies.clear()
        if self.page is not None:
            await self.page.close()

    async def _identify(self, client: tuple[str, int], server: tuple[str, int]) -> str | None:
        """The service of the local job whose process (or a descendant of it) made the
        connection from `client` to `server`; None for anyone else."""
        pid = await self._owners.owner(client, server)
        if pid is None:
            return None
        jobs = {job_pid: name for name, job_pid in self._running_pids().items()}
        while pid > 1:
            name = jobs.get(pid)
            if name is not None:
                return self._services.get(name, name)
            parent = _parent(pid)
            if parent is None:
                return None
            pid = parent
        return None


def _key(job: JobConfig) -> tuple[Any, ...]:
    return (job.service_name, job.interfaces, job.port, job.upstream_port)


def _parent(pid: int) -> int | None:
    """The parent of process `pid`, from /proc (None once it is gone)."""
    with (
        contextlib.suppress(OSError, ValueError, IndexError),
        open(f"/proc/{pid}/stat", "rb") as file,
    ):
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses
        return int(file.read().rsplit(b")", 1)[1].split()[1])
    return None
