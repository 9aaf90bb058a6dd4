"""Config settings for a developer's stack (`pilot up`): automatic ports, builds, file watches,
services resolved from a remote Consul, per-service log files. `JobConfig` and `Config` inherit
them (keyword-only fields, so that the required fields of those classes may follow)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pilot.config.consul_model import ConsulTLS, Token
from pilot.config.errors import ConfigError
from pilot.config.kinds import Argv, Duration, Int, Json, Str, Url, setting
from pilot.config.sections import ListOf, Obj

AUTO_PORT = 0  # how `port: "auto"` is stored until `pilot up` assigns the kept port
DEFAULT_BUILD_TIMEOUT = 600.0


class Port(Int):
    """A TCP port, or "auto" (stored as AUTO_PORT): `pilot up` picks a free one and keeps it."""

    def __init__(self) -> None:
        super().__init__(1, 65535)

    def parse(self, value: Json, place: str) -> int:
        if value == "auto":
            return AUTO_PORT
        try:
            return super().parse(value, place)
        except ConfigError as error:
            raise ConfigError(place, f'{error.message} (or "auto")') from None

    def dump(self, value: Any) -> Json:
        return "auto" if value == AUTO_PORT else value

    def schema(self) -> dict[str, Json]:
        return {"oneOf": [{"const": "auto"}, super().schema()]}


@dataclass(frozen=True)
class FileWatch:
    """Rebuild (`build`) and restart the job when files under `paths` change."""

    paths: tuple[str, ...] = setting(
        ListOf(Str(), single_ok=True), "files or directories, relative to the config file"
    )
    ignore: tuple[str, ...] = setting(
        ListOf(Str(), single_ok=True),
        'glob patterns of names or relative paths left alone, e.g. "*.pyc", "build/*"',
        (),
    )
    debounce: float = setting(
        Duration(positive=True), "act once changes have been quiet this long", 0.3
    )


@dataclass(frozen=True)
class Remote:
    """A remote Consul (a shared staging one) from which `pilot up` resolves the services of
    `services` that do not run locally."""

    consul: str = setting(Url(), '"http(s)://host:port" of the remote Consul')
    services: tuple[str, ...] = setting(
        ListOf(Str(), single_ok=True), "service names to resolve there"
    )
    token: str | None = setting(Token(), "ACL token (never logged or shown)", None)
    datacenter: str | None = setting(Str(), "datacenter to query", None)
    tls: ConsulTLS = setting(Obj(ConsulTLS), "TLS settings", ConsulTLS())


@dataclass(frozen=True, kw_only=True)
class UpJob:
    """A job's settings for development: its build, and the files that trigger it."""

    build: tuple[str, ...] | None = setting(
        Argv(),
        "command that builds the job (`pilot ctl rebuild`): the old process keeps serving "
        "while it runs, and is restarted only when it succeeds",
        None,
    )
    build_timeout: float | None = setting(
        Duration(positive=True), "bound on one build (default: 10m)", None
    )
    watch: FileWatch | None = setting(
        Obj(FileWatch), "rebuild and restart on changes of these files (pilot up)", None
    )


@dataclass(frozen=True, kw_only=True)
class UpConfig:
    """Top-level settings for development."""

    remote: Remote | None = setting(
        Obj(Remote), "services resolved from a remote Consul (pilot up)", None
    )
    logs_dir: str | None = setting(
        Str(),
        "also write each job's output to <logs_dir>/<job>.log (relative to the config file; "
        "rotated at 10 MiB, 3 old files kept)",
        None,
    )
