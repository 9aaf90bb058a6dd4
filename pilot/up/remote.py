"""`remote`: services of the stack's `remote.services` that no local job provides are resolved
from a remote Consul (blocking queries, passing instances only) and copied into the stack's
registry as external services of node REMOTE_NODE, so that every Consul client pointed at the
stack's registry (templates, DNS, HTTP) sees local and remote services side by side. A local
job of the same service name wins: its name is never asked of the remote Consul."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from pilot.config.consul_model import ConsulConfig
from pilot.config.up_model import Remote
from pilot.consul.api import ConsulAPI
from pilot.consul.calls import ConsulCalls
from pilot.consul.client import ConsulTarget, resolve_target
from pilot.consul.errors import describe
from pilot.consul.watch import Instance, Query, WatchHub
from pilot.log import Log

REMOTE_NODE = "remote"
ID_PREFIX = "remote:"  # of the copies' service IDs: remote:<node>:<id>
FORGET_WAIT = 3.0  # seconds the stack's exit waits to take the copies out of an agent


def remote_target(remote: Remote) -> ConsulTarget:
    """The remote Consul as a target (the shell's CONSUL_* variables do not apply to it)."""
    config = ConsulConfig(
        address=remote.consul, token=remote.token, datacenter=remote.datacenter, tls=remote.tls
    )
    return resolve_target(config, {})


class RemoteServices:
    """Follows `names` on the remote Consul and mirrors them into the local registry."""

    def __init__(self, remote: Remote, names: list[str], local: ConsulTarget, log: Log) -> None:
        self._log, self.names = log, names
        target = remote_target(remote)
        self._remote = ConsulCalls(target, log)
        self._hub = WatchHub(ConsulAPI(self._remote), log, self._on_error)
        self._local = ConsulCalls(local, log)
        self._api = ConsulAPI(self._local)
        self.instances: dict[str, tuple[Instance, ...]] = {}
        self._mirrored: dict[str, set[str]] = {}
        self._pending: dict[str, tuple[Instance, ...]] = {}
        self._sync: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._answers = asyncio.Event()
        self._where = target.url

    def start(self) -> None:
        """Start the blocking queries, and the task that copies their answers."""
        for name in self.names:
            self._hub.subscribe(Query("service", name, passing=True), self._answer(name))
        self._sync = asyncio.get_running_loop().create_task(self._copy())
        self._log.info(f"resolving {', '.join(self.names)} from {self._where}")

    async def answered(self, timeout: float) -> bool:
        """Wait until every service has had an answer; False after `timeout` seconds."""
        try:
            async with asyncio.timeout(timeout):
                while any(name not in self.instances for name in self.names):
                    self._answers.clear()
                    await self._answers.wait()
        except TimeoutError:
            return False
        return True

    async def close(self, forget: bool) -> None:
        """Stop following the remote Consul; with `forget`, first take the copies out of the
        local registry (an agent that outlives the stack would go on serving them), waiting
        at most FORGET_WAIT for it."""
        self._hub.close()
        if self._sync is not None:
            self._sync.cancel()
        if forget and any(self._mirrored.values()):
            try:
                async with asyncio.timeout(FORGET_WAIT):
                    await self._forget()
            except Exception as error:  # the stack stops anyway; say what stays behind
                left = sorted(i for ids in self._mirrored.values() for i in ids)
                self._log.warn(
                    f"remote copies left in the local registry ({', '.join(left)})",
                    error=describe(error),
                )
        await self._remote.close()
        await self._local.close()

    async def _forget(self) -> None:
        """Deregister every copy."""
        for name, ids in self._mirrored.items():
            for service_id in sorted(ids):
                await self._api.catalog_deregister(REMOTE_NODE, service_id)
            self._mirrored[name] = set()

    def _answer(self, name: str) -> Callable[[tuple[Instance, ...]], None]:
        def deliver(instances: tuple[Instance, ...]) -> None:
            if instances != self.instances.get(name):
                self._log.info(
                    f"remote {name}: {len(instances)} passing instance(s)",
                    instances=",".join(f"{i.address}:{i.port}" for i in instances),
                )
            self.instances[name] = instances
            self._pending[name] = instances
            self._wake.set()
            self._answers.set()

        return deliver

    def _on_error(self, message: str) -> None:
        self._log.debug(f"remote Consul {self._where}: {message}")

    async def _copy(self) -> None:
        """Apply the latest answers to the local registry, one service at a time; a failed
        write is retried with the next answer or after a second."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            pending, self._pending = self._pending, {}
            for name, instances in pending.items():
                try:
                    await self._mirror(name, instances)
                except Exception as error:  # the local registry is not answering (yet)
                    self._log.debug(f"cannot copy remote {name}: {error}")
                    self._pending.setdefault(name, instances)
                    asyncio.get_running_loop().call_later(1.0, self._wake.set)

    async def _mirror(self, name: str, instances: tuple[Instance, ...]) -> None:
        """Register the remote instances of `name`, deregister the rest."""
        wanted = {f"{ID_PREFIX}{i.node}:{i.id}": i for i in instances}
        for service_id, instance in wanted.items():
            await self._api.catalog_register(
                REMOTE_NODE,
                instance.address,
                service={
                    "ID": service_id,
                    "Service": name,
                    "Address": instance.address,
                    "Port": instance.port,
                    "Tags": list(instance.tags),
                    "Meta": {**dict(instance.meta), "pilot-remote": self._where},
                },
                check={
                    "CheckID": f"{service_id}:check",
                    "Name": f"passing on {self._where}",
                    "Status": "passing",
                    "ServiceID": service_id,
                },
            )
        for gone in self._mirrored.get(name, set()) - set(wanted):
            await self._api.catalog_deregister(REMOTE_NODE, gone)
        self._mirrored[name] = set(wanted)
