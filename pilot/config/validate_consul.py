"""Checks on the Consul-related settings: health checks, leader election, interfaces, watches,
the agent address."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

from pilot.config.errors import ConfigError
from pilot.config.interfaces import check_interface_spec
from pilot.config.model import Config, JobConfig
from pilot.events import WATCH_CODES, watch_source

_WATCH_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_HOST_PORT = re.compile(r"(\[[0-9a-fA-F:.]+\]|[^:/\s]+):([0-9]{1,5})")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an HTTP method or header name (RFC 9110)


def check_consul_parts(config: Config) -> Iterator[ConfigError]:
    """Every problem in the Consul-related settings."""
    yield from _check_address(config.consul.address, "consul.address")
    if config.consul.embedded and not _host_port(config.consul.listen, any_port=True):
        yield ConfigError("consul.listen", f'{config.consul.listen!r} is not "host:port"')
    ids: dict[tuple[str, int], str] = {}
    for i, job in enumerate(config.jobs):
        place = f"jobs[{i}]"
        yield from _check_health(job, place, config.short_ttl_ok)
        if job.leader is not None and not 10 <= job.leader.ttl <= 86400:
            yield ConfigError(
                f"{place}.leader.ttl",
                "must be between 10s and 24h (Consul's limits for a session TTL)",
            )
        if job.leader is not None and job.leader.lock_delay > 60:
            yield ConfigError(f"{place}.leader.lock_delay", "must be at most 60s (Consul's limit)")
        for j, spec in enumerate(job.interfaces):
            try:
                check_interface_spec(spec)
            except ValueError as error:
                yield ConfigError(f"{place}.interfaces[{j}]", str(error))
        if job.port is not None:
            key = (job.service_id or job.service_name, job.port)
            if key in ids:
                yield ConfigError(
                    f"{place}.port",
                    f"{ids[key]} already registers "
                    f"{key[0]!r} on port {key[1]}: give a different service_id",
                )
            ids.setdefault(key, place)
    names: set[str] = set()
    for i, watch in enumerate(config.watches):
        place = f"watches[{i}]"
        if not _WATCH_NAME.fullmatch(watch.name):
            yield ConfigError(
                f"{place}.name",
                f"{watch.name!r} is not allowed: use letters, "
                "digits, '-' and '_', starting with a letter",
            )
        elif watch.name in names:
            yield ConfigError(f"{place}.name", f"duplicate watch name {watch.name!r}")
        names.add(watch.name)
        targets = [key for key in ("service", "key", "prefix") if getattr(watch, key) is not None]
        if len(targets) != 1:
            yield ConfigError(place, "needs exactly one of service, key or prefix")
        elif watch.tags and not watch.service:
            yield ConfigError(f"{place}.tags", "only a service watch has tags")


def watch_sources(config: Config) -> dict[str, frozenset[str]]:
    """Event sources the watches provide, with their codes."""
    return {watch_source(watch.name): WATCH_CODES for watch in config.watches}


def _check_health(job: JobConfig, place: str, short_ttl_ok: bool) -> Iterator[ConfigError]:
    health = job.health
    if health is None:
        if job.port is not None:
            yield ConfigError(
                f"{place}.health",
                "is required when port is set: pilot keeps the "
                "service's TTL check up to date from it",
            )
        return
    kinds = [key for key in ("exec", "http", "tcp") if getattr(health, key) is not None]
    if len(kinds) != 1:
        yield ConfigError(f"{place}.health", "needs exactly one of exec, http or tcp")
    if health.ttl is not None and health.ttl <= health.interval and not short_ttl_ok:
        yield ConfigError(
            f"{place}.health.ttl",
            "must be longer than the interval, or the check expires between two runs",
        )
    if health.http is None:
        for key, default in (("method", "GET"), ("header", ()), ("tls_skip_verify", False)):
            if getattr(health, key) != default:
                yield ConfigError(f"{place}.health.{key}", "only applies to an http check")
    elif not _TOKEN.fullmatch(health.method):
        yield ConfigError(f"{place}.health.method", f"{health.method!r} is not an HTTP method")
    for name, value in health.header:
        if not _TOKEN.fullmatch(name) or "\r" in value or "\n" in value:
            yield ConfigError(f"{place}.health.header.{name}", "not a valid HTTP header")
    if health.http is not None and not _http_url(health.http):
        yield ConfigError(f"{place}.health.http", f"{health.http!r} is not an http(s) URL")
    if health.tcp is not None and not _host_port(health.tcp):
        yield ConfigError(f"{place}.health.tcp", f'{health.tcp!r} is not "host:port"')


def _http_url(text: str) -> bool:
    try:
        url = urlsplit(text)
        return url.scheme in ("http", "https") and bool(url.hostname) and url.port != 0
    except ValueError:  # "http://[::1" or a port over 65535
        return False


def _host_port(text: str, any_port: bool = False) -> bool:
    """Whether `text` is "host:port" with a port from 1 (0 too with `any_port`) to 65535."""
    match = _HOST_PORT.fullmatch(text)
    return match is not None and (0 if any_port else 1) <= int(match.group(2)) <= 65535


def _check_address(address: str, place: str) -> Iterator[ConfigError]:
    if address == "embedded":
        return
    rest = address
    for scheme in ("http://", "https://"):
        rest = rest.removeprefix(scheme)
    if not _host_port(rest.rstrip("/")):
        yield ConfigError(
            place, f'{address!r} is not "host:port", "https://host:port" or "embedded"'
        )
