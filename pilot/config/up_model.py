"""Config settings for a developer's stack (`pilot up`): automatic ports, builds, file watches,
services resolved from a remote Consul, per-service log files. `JobConfig` and `Config` inherit
them (keyword-only fields, so that the required fields of those classes may follow)."""

from __future__ import annotations

import re
from dataclasses import field

from pilot.config.callback_model import Callback
from pilot.config.consul_model import ConsulTLS, Token
from pilot.config.errors import ConfigError
from pilot.config.frozen import section
from pilot.config.kinds import Argv, Bool, Duration, Int, Json, Str, Url, setting
from pilot.config.sections import ListOf, Obj

DEFAULT_BUILD_TIMEOUT = 600.0
DEFAULT_MONITOR_LISTEN = "127.0.0.1:4040"
_HOST_PORT = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[^\s:\[\]]+):([0-9]{1,5})")


class HostPort(Str):
    """ "host:port" (an IPv6 host in brackets); port 0 lets the system pick one."""

    def parse(self, value: Json, place: str) -> str:
        text = super().parse(value, place)
        match = _HOST_PORT.fullmatch(text)
        if match is None or int(match.group(2)) > 65535:
            raise ConfigError(place, f'{text!r} is not "host:port"')
        return text


def split_host_port(text: str) -> tuple[str, int]:
    """("host", port) of a "host:port" that HostPort accepted (brackets of IPv6 removed)."""
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


@section
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


@section
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


def _monitor_shorthand(value: Json, place: str) -> Json:
    """`monitor: true` is `{}` (every service), `false` is `{services: false}`."""
    if isinstance(value, bool):
        return {} if value else {"services": False}
    raise ConfigError(place, f"must be true, false or an object, not {value!r}")


@section
class MonitorConfig:
    """The traffic monitor: a recording HTTP proxy in front of services, and a page that shows
    what they exchanged."""

    services: bool = setting(
        Bool(), "monitor every service with a port (a job's own `monitor` wins)", True
    )
    listen: str = setting(
        HostPort(), "where the monitor page listens (keep it on loopback)", DEFAULT_MONITOR_LISTEN
    )
    body_limit: int = setting(
        Int(0, 16 << 20), "bytes of each request and response body kept", 64 << 10
    )
    keep: int = setting(Int(1, 1_000_000), "exchanges kept per service (the oldest go)", 1000)
    unmask: tuple[str, ...] = setting(
        ListOf(Str(), single_ok=True),
        'credential headers recorded as they are, e.g. ["Authorization"] (default: '
        "Authorization, Proxy-Authorization, Cookie and Set-Cookie are masked)",
        (),
    )


MONITOR_SECTION = Obj(MonitorConfig, _monitor_shorthand)


@section(kw_only=True)
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
    monitor: bool | None = setting(
        Bool(),
        "serve the port through the traffic monitor's recording proxy; the job listens on "
        "$PORT (pilot up; default: the top-level monitor's `services`)",
        None,
    )
    callback: Callback | None = setting(
        Obj(Callback),
        "a URL on a relay that reaches this service, through a supervised `ssh -R` (pilot up)",
        None,
    )
    upstream_port: int | None = field(default=None)  # where a monitored job itself listens


@section(kw_only=True)
class UpConfig:
    """Top-level settings for development."""

    remote: Remote | None = setting(
        Obj(Remote), "services resolved from a remote Consul (pilot up)", None
    )
    monitor: MonitorConfig | None = setting(
        MONITOR_SECTION,
        "the traffic monitor (pilot up): true, or {services, listen, body_limit, keep, unmask}",
        None,
    )
    logs_dir: str | None = setting(
        Str(),
        "also write each job's output to <logs_dir>/<job>.log (relative to the config file; "
        "rotated at 10 MiB, 3 old files kept)",
        None,
    )
