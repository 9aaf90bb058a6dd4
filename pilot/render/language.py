"""The template language: sandboxed Jinja2 with StrictUndefined and functions that read Consul
data. Each call records the query it needs, so a template's dependencies are discovered by
rendering it, as consul-template does."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pilot.config.model import Config
from pilot.consul.watch import Instance, Query

MISSING = object()
Latest = Callable[[Query], Any]  # the latest answer to a query, or MISSING
UPSTREAMS_VARIABLE = "PILOT_UPSTREAMS"
# Never an upstream by default: the registry itself and pilot's (or ContainerPilot's) telemetry.
NOT_UPSTREAMS = frozenset({"consul", "pilot-telemetry", "containerpilot"})


class TemplateLookupError(Exception):
    """A template asked for something that does not exist (a missing key, an unreadable file)."""


@dataclass(frozen=True)
class ServiceInstance:
    """One instance as a template sees it."""

    id: str
    name: str
    address: str
    port: int
    tags: tuple[str, ...]
    meta: Mapping[str, str]
    node: str
    status: str


@dataclass(frozen=True)
class CatalogService:
    name: str
    tags: tuple[str, ...]


@dataclass(frozen=True)
class KeyPair:
    key: str
    value: str


def own_services(config: Config) -> frozenset[str]:
    """The services the pilot of `config` registers (never its own upstreams)."""
    return frozenset(job.service_name for job in config.jobs if job.port is not None)


class Lookups:
    """The data functions of one render; `used` and `missing` say which queries it needed."""

    def __init__(
        self,
        latest: Latest,
        environ: Mapping[str, str],
        base_dir: str,
        wait: float = 60.0,
        datacenter: str | None = None,
        own_services: frozenset[str] = frozenset(),
    ) -> None:
        self._latest, self._environ, self._base_dir = latest, environ, base_dir
        self._wait, self._dc, self._own = wait, datacenter, own_services
        self.used: set[Query] = set()
        self.missing: set[Query] = set()

    def functions(self) -> dict[str, Callable[..., Any]]:
        return {
            "service": self.service,
            "services": self.services,
            "key": self.key,
            "key_or_default": self.key_or_default,
            "tree": self.tree,
            "env": self.env,
            "file": self.file,
            "leader": self.leader,
            "upstreams": self.upstreams,
        }

    def _ask(self, query: Query, empty: Any = ()) -> Any:
        """The latest answer to `query`; `empty` (and `query` noted missing) before the first."""
        self.used.add(query)
        data = self._latest(query)
        if data is MISSING:
            self.missing.add(query)
            return empty
        return data

    def service(
        self, name: str, tag: str | None = None, passing: bool = True
    ) -> list[ServiceInstance]:
        """Instances of `name` (with `tag`), sorted by (node, id); only passing ones by default."""
        query = Query("service", name, (tag,) if tag else (), self._dc, passing, self._wait)
        data: tuple[Instance, ...] = self._ask(query)
        return [
            ServiceInstance(
                i.id,
                i.name,
                i.address,
                i.port,
                tuple(sorted(i.tags)),
                dict(i.meta),
                i.node,
                i.status,
            )
            for i in sorted(data, key=lambda i: (i.node, i.id))
        ]

    def services(self) -> list[CatalogService]:
        """Every service in the catalog, sorted by name (no health filtering)."""
        data = self._ask(Query("catalog", "", (), self._dc, False, self._wait))
        return [CatalogService(name, tags) for name, tags in data]

    def upstreams(self) -> list[str]:
        """The services a proxy in this container fronts: those named in PILOT_UPSTREAMS
        ("app,api"), else every service in the catalog but this pilot's own, the registry's
        and the telemetry services."""
        wanted = self._environ.get(UPSTREAMS_VARIABLE, "")
        if wanted.strip():
            return [name.strip() for name in wanted.split(",") if name.strip()]
        excluded = NOT_UPSTREAMS | self._own
        return [entry.name for entry in self.services() if entry.name not in excluded]

    def key(self, path: str) -> str:
        """The value of a KV key; the render fails while the key does not exist."""
        data = self._ask(Query("key", path, (), self._dc, False, self._wait), MISSING)
        if data is MISSING:
            return ""  # not answered yet: this render will not be written
        value = _value_of(data, path)
        if value is None:
            raise TemplateLookupError(f"key {path!r} does not exist (use key_or_default)")
        return value

    def key_or_default(self, path: str, default: str = "") -> str:
        """The value of a KV key, or `default` when it is absent or empty."""
        data = self._ask(Query("key", path, (), self._dc, False, self._wait))
        return _value_of(data, path) or default

    def tree(self, prefix: str) -> list[KeyPair]:
        """Every key under `prefix`, sorted, with keys relative to the prefix."""
        data = self._ask(Query("prefix", prefix, (), self._dc, False, self._wait))
        return [
            KeyPair(key.removeprefix(prefix).lstrip("/"), _text(value))
            for key, value in data
            if not key.endswith("/")
        ]

    def leader(self, key: str) -> str:
        """The value held by the current holder of lock `key` ("" when nobody holds it)."""
        value = self._ask(Query("leader", key, (), self._dc, False, self._wait), None)
        return str(value) if value else ""

    def env(self, name: str, default: str | None = None) -> str:
        """An environment variable; the render fails when it is unset and has no default."""
        value = self._environ.get(name, default)
        if value is None:
            raise TemplateLookupError(f"environment variable {name} is not set")
        return value

    def file(self, path: str) -> str:
        """A local file's text (relative to the config file)."""
        try:
            with open(os.path.join(self._base_dir, path), encoding="utf-8") as handle:
                return handle.read()
        except OSError as error:
            raise TemplateLookupError(f"cannot read {path}: {error.strerror}") from None


def by_tag(instances: list[ServiceInstance], tag: str) -> list[ServiceInstance]:
    """The instances that carry `tag`."""
    return [i for i in instances if tag in i.tags]


def by_meta(
    instances: list[ServiceInstance], key: str, value: str | None = None
) -> list[ServiceInstance]:
    """The instances whose meta has `key` (equal to `value`, when given)."""
    return [i for i in instances if key in i.meta and (value is None or i.meta[key] == value)]


def make_environment() -> Any:
    """A sandboxed Jinja2 environment with StrictUndefined and pilot's filters."""
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    environment = SandboxedEnvironment(
        undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False
    )
    environment.filters["by_tag"] = by_tag
    environment.filters["by_meta"] = by_meta
    return environment


def _value_of(data: tuple[tuple[str, bytes | None], ...], path: str) -> str | None:
    for key, value in data:
        if key == path:
            return _text(value)
    return None


def _text(value: bytes | None) -> str:
    return "" if value is None else value.decode("utf-8", "replace")
