"""How `pilot up` reads a config: the embedded registry (with DNS) unless `consul` is set, the
kept port of every `port: "auto"`, services advertised on loopback and checked over TCP unless
told otherwise, and no main job. `pilot run` refuses what only `pilot up` can do."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pilot.config.consul_model import ConsulConfig, Health
from pilot.config.errors import ConfigError
from pilot.config.model import Config, JobConfig
from pilot.config.up_model import AUTO_PORT

# (key, place) -> the port kept for `key` (a job's name, or REGISTRY_HTTP / REGISTRY_DNS);
# raises ConfigError at `place` when it cannot be had.
PortAllocator = Callable[[str, str], int]
REGISTRY_HTTP, REGISTRY_DNS = "@consul", "@dns"  # no job name holds '@'
LOOPBACK = "127.0.0.1"
# The default check: a TCP connect on loopback costs microseconds, and a service is found
# passing within a quarter second of listening; the TTL leaves room for a busy laptop.
DEFAULT_CHECK_INTERVAL, DEFAULT_CHECK_TTL = 0.25, 3.0


def apply_up(config: Config, raw: Mapping[str, Any], allocate: PortAllocator) -> Config:
    """`config` as `pilot up` runs it (`raw`: the file's top-level object)."""
    consul = config.consul
    if "consul" not in raw:
        consul = ConsulConfig(
            address="embedded",
            listen=f"{LOOPBACK}:{allocate(REGISTRY_HTTP, 'consul')}",
            dns=f"{LOOPBACK}:{allocate(REGISTRY_DNS, 'consul')}",
        )
    jobs = tuple(_up_job(job, f"jobs[{i}]", allocate) for i, job in enumerate(config.jobs))
    return dataclasses.replace(config, consul=consul, jobs=jobs)


def _up_job(job: JobConfig, place: str, allocate: PortAllocator) -> JobConfig:
    changes: dict[str, Any] = {}
    port = job.port
    if port == AUTO_PORT:
        port = changes["port"] = allocate(job.name, f"{place}.port")
    if port is not None:
        if not job.interfaces:
            changes["interfaces"] = (f"static:{LOOPBACK}",)
        if job.health is None:
            changes["health"] = Health(
                tcp=f"{LOOPBACK}:{port}", interval=DEFAULT_CHECK_INTERVAL, ttl=DEFAULT_CHECK_TTL
            )
    return dataclasses.replace(job, **changes) if changes else job


def check_run_mode(config: Config) -> Iterator[ConfigError]:
    """What `pilot run` cannot do: a container's ports are fixed, its files do not change."""
    for i, job in enumerate(config.jobs):
        if job.port == AUTO_PORT:
            yield ConfigError(f"jobs[{i}].port", '"auto" is for pilot up; give the port')
        if job.watch is not None:
            yield ConfigError(f"jobs[{i}].watch", "is for pilot up")
    if config.remote is not None:
        yield ConfigError("remote", "is for pilot up")
