"""Config sections for operating pilot: the control socket and telemetry."""

from __future__ import annotations

import os

from pilot.config.frozen import section
from pilot.config.kinds import Bool, Choice, Int, Str, setting
from pilot.config.sections import ListOf, Obj


@section
class Control:
    """The control socket (HTTP over a unix socket, mode 0600, never TCP)."""

    socket: str | None = setting(
        Str(),
        "socket path (default: /var/run/pilot.sock as root, "
        "else $XDG_RUNTIME_DIR/pilot.sock or /tmp/pilot-<uid>.sock)",
        None,
    )

    @property
    def path(self) -> str:
        return self.socket or default_socket()


def default_socket() -> str:
    """Where the control socket is when the config does not say."""
    if os.geteuid() == 0:
        return "/var/run/pilot.sock"
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    return os.path.join(runtime, "pilot.sock") if runtime else f"/tmp/pilot-{os.geteuid()}.sock"


@section
class MetricSpec:
    """A metric that jobs push with `pilot ctl putmetric`."""

    name: str = setting(Str(), "Prometheus metric name")
    type: str = setting(
        Choice("counter", "gauge", "histogram", "summary"),
        "what a pushed value does: a counter adds, a gauge sets, a histogram or summary observes",
    )
    help: str = setting(Str(), "its help text", "pushed with pilot ctl putmetric")
    labels: tuple[str, ...] = setting(ListOf(Str()), "label names", ())


@section
class Telemetry:
    """Prometheus metrics (GET /metrics) and status (GET /status) over HTTP."""

    port: int = setting(Int(1, 65535), "TCP port", 9090)
    interfaces: tuple[str, ...] = setting(
        ListOf(Str(), single_ok=True),
        "where to listen (as a job's interfaces; default: the first non-loopback IPv4)",
        (),
    )
    metrics: tuple[MetricSpec, ...] = setting(ListOf(Obj(MetricSpec)), "custom metrics", ())
    register: bool = setting(
        Bool(),
        "register as service pilot-telemetry when pilot talks to Consul "
        "(a job with a port or a leader, a watch, a template)",
        True,
    )
    service: str = setting(
        Str(),
        "the service name it is registered as (a ContainerPilot config: containerpilot)",
        "pilot-telemetry",
    )
    tags: tuple[str, ...] = setting(ListOf(Str()), "tags of that registration", ())
    service_id: str | None = setting(
        Str(), "its service ID (default: <service>-<hostname>-<port>)", None
    )
