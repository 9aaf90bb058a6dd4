"""Checks on the Consul parts of a config: health, registration, watches, the agent address."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from pilot.config.errors import ConfigError
from pilot.config.model import Config, JobConfig

WATCH_CODES = frozenset({"changed", "healthy", "unhealthy"})
_WATCH_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_HOST_PORT = re.compile(r"(\[[0-9a-fA-F:.]+\]|[^:/\s]+):(\d{1,5})")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an HTTP method or header name (RFC 9110)


def check_consul_parts(config: Config) -> None:
    """Raise ConfigError for the first problem in the Consul-related settings."""
    _check_address(config.consul.address, "consul.address")
    ids: dict[tuple[str, int], str] = {}
    for i, job in enumerate(config.jobs):
        place = f"jobs[{i}]"
        _check_health(job, place)
        if job.leader is not None and not 10 <= job.leader.ttl <= 86400:
            raise ConfigError(
                f"{place}.leader.ttl",
                "must be between 10s and 24h (Consul's limits for a session TTL)",
            )
        if job.leader is not None and job.leader.lock_delay > 60:
            raise ConfigError(f"{place}.leader.lock_delay", "must be at most 60s (Consul's limit)")
        _check_interfaces(job, place)
        if job.port is not None:
            key = (job.service_id or job.service_name, job.port)
            if key in ids:
                raise ConfigError(
                    f"{place}.port",
                    f"{ids[key]} already registers "
                    f"{key[0]!r} on port {key[1]}: give a different service_id",
                )
            ids[key] = place
    names: set[str] = set()
    for i, watch in enumerate(config.watches):
        place = f"watches[{i}]"
        if not _WATCH_NAME.fullmatch(watch.name):
            raise ConfigError(
                f"{place}.name",
                f"{watch.name!r} is not allowed: use letters, "
                "digits, '-' and '_', starting with a letter",
            )
        if watch.name in names:
            raise ConfigError(f"{place}.name", f"duplicate watch name {watch.name!r}")
        names.add(watch.name)
        targets = [key for key in ("service", "key", "prefix") if getattr(watch, key) is not None]
        if len(targets) != 1:
            raise ConfigError(place, "needs exactly one of service, key or prefix")
        if watch.tags and not watch.service:
            raise ConfigError(f"{place}.tags", "only a service watch has tags")


def watch_sources(config: Config) -> dict[str, frozenset[str]]:
    """Event sources the watches provide, with their codes."""
    return {f"watch.{watch.name}": WATCH_CODES for watch in config.watches}


def _check_health(job: JobConfig, place: str) -> None:
    health = job.health
    if health is None:
        if job.port is not None:
            raise ConfigError(
                f"{place}.health",
                "is required when port is set: pilot keeps the "
                "service's TTL check up to date from it",
            )
        return
    kinds = [key for key in ("exec", "http", "tcp") if getattr(health, key) is not None]
    if len(kinds) != 1:
        raise ConfigError(f"{place}.health", "needs exactly one of exec, http or tcp")
    if health.ttl is not None and health.ttl <= health.interval:
        raise ConfigError(
            f"{place}.health.ttl",
            "must be longer than the interval, or the check expires between two runs",
        )
    if health.http is None:
        for key, default in (("method", "GET"), ("header", ()), ("tls_skip_verify", False)):
            if getattr(health, key) != default:
                raise ConfigError(f"{place}.health.{key}", "only applies to an http check")
    elif not _TOKEN.fullmatch(health.method):
        raise ConfigError(f"{place}.health.method", f"{health.method!r} is not an HTTP method")
    for name, value in health.header:
        if not _TOKEN.fullmatch(name) or "\r" in value or "\n" in value:
            raise ConfigError(f"{place}.health.header.{name}", "not a valid HTTP header")
    if health.http is not None:
        url = urlsplit(health.http)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ConfigError(f"{place}.health.http", f"{health.http!r} is not an http(s) URL")
    if health.tcp is not None and not _HOST_PORT.fullmatch(health.tcp):
        raise ConfigError(f"{place}.health.tcp", f'{health.tcp!r} is not "host:port"')


def _check_interfaces(job: JobConfig, place: str) -> None:
    if not job.interfaces:
        return
    from pilot.consul.addresses import check_interface_spec

    for i, spec in enumerate(job.interfaces):
        try:
            check_interface_spec(spec)
        except ValueError as error:
            raise ConfigError(f"{place}.interfaces[{i}]", str(error)) from None


def _check_address(address: str, place: str) -> None:
    if address == "embedded":
        return
    rest = address
    for scheme in ("http://", "https://"):
        rest = rest.removeprefix(scheme)
    if not _HOST_PORT.fullmatch(rest.rstrip("/")):
        raise ConfigError(
            place, f'{address!r} is not "host:port", "https://host:port" or "embedded"'
        )
