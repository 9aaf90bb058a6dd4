"""How `pilot up` reads a config: the embedded registry (with DNS) unless `consul` is set, the
kept port of every `port: "auto"`, services advertised on loopback and checked over TCP unless
told otherwise, and no main job. `pilot run` refuses what only `pilot up` can do."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pilot.config.callback_jobs import callback_job
from pilot.config.consul_model import ConsulConfig, Health
from pilot.config.errors import ConfigError
from pilot.config.model import Config, JobConfig
from pilot.config.ports_kind import AUTO_PORT

# (key, place) -> the port kept for `key` (a job's name, or REGISTRY_HTTP / REGISTRY_DNS);
# raises ConfigError at `place` when it cannot be had.
PortAllocator = Callable[[str, str], int]
REGISTRY_HTTP, REGISTRY_DNS = "@consul", "@dns"  # no job name holds '@'
CALLBACK_SUFFIX = "@callback"  # keys of ports on a relay: kept, never probed here
LOOPBACK = "127.0.0.1"
# The default check: a TCP connect on loopback costs microseconds, and a service is found
# passing within a quarter second of listening; the TTL leaves room for a busy laptop.
DEFAULT_CHECK_INTERVAL, DEFAULT_CHECK_TTL = 0.25, 3.0


def apply_up(config: Config, raw: Mapping[str, Any], allocate: PortAllocator) -> Config:
    """`config` as `pilot up` runs it (`raw`: the file's top-level object): a monitored job
    gets the internal port it listens on (its `port` is the proxy's), a job with a callback
    gets the relay's kept port and an ssh job that forwards it."""
    consul = config.consul
    if "consul" not in raw:
        consul = ConsulConfig(
            address="embedded",
            listen=f"{LOOPBACK}:{allocate(REGISTRY_HTTP, 'consul')}",
            dns=f"{LOOPBACK}:{allocate(REGISTRY_DNS, 'consul')}",
        )
    stack_monitor = config.monitor is not None and config.monitor.services
    jobs = [
        _up_job(job, f"jobs[{i}]", allocate, stack_monitor) for i, job in enumerate(config.jobs)
    ]
    names = {job.name for job in jobs}
    for i, job in enumerate(list(jobs)):
        if job.callback is not None and job.port is not None:
            forward = callback_job(job, job.port, job.callback.port)
            if forward.name in names:
                raise ConfigError(
                    f"jobs[{i}].callback",
                    f"its ssh job would be called {forward.name!r}, the name of another job",
                )
            names.add(forward.name)
            jobs.append(forward)
    return dataclasses.replace(config, consul=consul, jobs=tuple(jobs))


def _up_job(job: JobConfig, place: str, allocate: PortAllocator, stack_monitor: bool) -> JobConfig:
    changes: dict[str, Any] = {}
    port = job.port
    if port == AUTO_PORT:
        port = changes["port"] = allocate(job.name, f"{place}.port")
    if port is None:
        return dataclasses.replace(job, **changes) if changes else job
    listens = port  # where the job itself listens
    if job.monitor if job.monitor is not None else stack_monitor:
        listens = changes["upstream_port"] = allocate(monitored_key(job.name), f"{place}.monitor")
    if job.callback is not None and job.callback.port == AUTO_PORT:
        relay_port = allocate(callback_key(job.name), f"{place}.callback.port")
        changes["callback"] = dataclasses.replace(job.callback, port=relay_port)
    if not job.interfaces:
        changes["interfaces"] = (f"static:{LOOPBACK}",)
    if job.health is None:
        changes["health"] = Health(
            tcp=f"{LOOPBACK}:{listens}", interval=DEFAULT_CHECK_INTERVAL, ttl=DEFAULT_CHECK_TTL
        )
    return dataclasses.replace(job, **changes)


_GIVEN_TO_JOBS = re.compile(r"PORT|CONSUL_(HTTP|DNS)_ADDR|[A-Z0-9_]+_(ADDR|URL|CALLBACK_URL)")


def run_time_advice(name: str) -> str | None:
    """Advice for `${name}` unset when the file is read, where `name` is a variable `pilot up`
    gives each job when it starts (its `PORT`, the services' addresses)."""
    if not _GIVEN_TO_JOBS.fullmatch(name):
        return None
    return (
        f"pilot up gives {name} to each job when it starts, after the file is read: let the "
        f'job\'s shell read it, as in `exec: "app --port $${name}", shell: true` '
        f"($$ is a literal $)"
    )


def monitored_key(job: str) -> str:
    """The key of a monitored job's own port in the kept ports."""
    return f"{job}@monitor"


def callback_key(job: str) -> str:
    """The key of a job's callback port, a port of the relay, in the kept ports."""
    return f"{job}{CALLBACK_SUFFIX}"


def check_up_mode(config: Config) -> Iterator[ConfigError]:
    """What `pilot up` needs: a monitored service or a callback needs the job's port."""
    for i, job in enumerate(config.jobs):
        if job.port is None and job.monitor:
            yield ConfigError(f"jobs[{i}].monitor", "needs a port: the proxy serves it")
        if job.port is None and job.callback is not None:
            yield ConfigError(f"jobs[{i}].callback", "needs a port: the forward reaches it")


def check_run_mode(config: Config) -> Iterator[ConfigError]:
    """What `pilot run` cannot do: a container's ports are fixed, its files do not change."""
    for i, job in enumerate(config.jobs):
        if job.port == AUTO_PORT:
            yield ConfigError(f"jobs[{i}].port", '"auto" is for pilot up; give the port')
        if job.watch is not None:
            yield ConfigError(f"jobs[{i}].watch", "is for pilot up")
        if job.monitor is not None:
            yield ConfigError(f"jobs[{i}].monitor", "is for pilot up")
        if job.callback is not None:
            yield ConfigError(f"jobs[{i}].callback", "is for pilot up")
    if config.remote is not None:
        yield ConfigError("remote", "is for pilot up")
    if config.monitor is not None:
        yield ConfigError("monitor", "is for pilot up")
