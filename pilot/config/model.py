"""The configuration as frozen dataclasses. Each field's `setting` metadata says how it is read
from pilot.json5, so validation, `pilot validate` output and `pilot schema` share one table."""

from __future__ import annotations

import enum
import math
import shlex
from dataclasses import field
from typing import Any

from pilot.config.consul_model import (
    ConsulConfig,
    Health,
    Leader,
    ServiceConsul,
    Watch,
    consul_shorthand,
)
from pilot.config.errors import ConfigError
from pilot.config.forwardable import FORWARDABLE
from pilot.config.frozen import section
from pilot.config.kinds import (
    NUL,
    Bool,
    Choice,
    Duration,
    EnvName,
    FileMode,
    Int,
    Json,
    Kind,
    Signal,
    Str,
    Text,
    check_argv,
    secret_name,
    setting,
)
from pilot.config.ops_model import Control, Telemetry
from pilot.config.ports_kind import Port
from pilot.config.sections import ListOf, MapOf, Obj
from pilot.config.template_model import Template
from pilot.config.up_model import UpConfig, UpJob
from pilot.config.when_model import STARTUP, When

CONTAINERPILOT = "ContainerPilot v3"  # Config.dialect of a file read as ContainerPilot's
class Restarts(Kind):
    """ "never", "unlimited" or a count; stored as a float so that unlimited is `math.inf`."""

    def parse(self, value: Json, place: str) -> float:
        if value == "never":
            return 0
        if value == "unlimited":
            return math.inf
        try:
            return Int(minimum=0).parse(value, place)
        except ConfigError:
            raise ConfigError(
                place, f'must be "never", "unlimited" or a count, not {value!r}'
            ) from None

    def dump(self, value: Any) -> Json:
        return "unlimited" if value == math.inf else "never" if value == 0 else int(value)

    def schema(self) -> dict[str, Json]:
        return {"oneOf": [{"enum": ["never", "unlimited"]}, {"type": "integer", "minimum": 0}]}


class Command(Kind):
    """A job's command as written: a string (split like a shell would) or a list of strings."""

    placeholder = ("false",)

    def parse(self, value: Json, place: str) -> str | tuple[str, ...]:
        if isinstance(value, str) and value.strip():
            if "\0" in value:
                raise ConfigError(place, NUL)
            try:
                if any(char in value for char in "'\"\\"):  # else it splits at spaces
                    shlex.split(value)
            except ValueError as error:
                raise ConfigError(place, f"cannot split command: {error}") from None
            return value
        if (
            isinstance(value, list)
            and value
            and all(isinstance(arg, str) for arg in value)
            and value[0]
        ):
            check_argv(value, place)
            return tuple(value)
        raise ConfigError(place, "must be a command: a non-empty string or list of strings")

    def dump(self, value: Any) -> Json:
        return value if isinstance(value, str) else list(value)

    def schema(self) -> dict[str, Json]:
        return {
            "oneOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "string"}, "minItems": 1},
            ]
        }


@section
class Stop:
    """How a job is stopped."""

    signal: int = setting(Signal(), "signal sent to the job's process group", 15)
    timeout: float = setting(Duration(), "SIGKILL the group if it has not exited after this", 10.0)


@section
class Backoff:
    """Delay between restarts: `initial`, doubling up to `max`, reset after `reset` of uptime."""

    initial: float = setting(Duration(), "delay before the first restart", 0.1)
    max: float = setting(Duration(), "longest delay", 30.0)
    reset: float = setting(Duration(), "a run this long resets the delay to initial", 10.0)


@section
class JobLogging:
    """How a job's output is logged."""

    raw: bool = setting(Bool(), "pass the job's stdout/stderr through untouched", False)


@section
class JobConfig(UpJob):
    """One supervised process: the app, a setup step, a hook or a periodic task."""

    name: str = setting(Str(), "unique name; also the event source of the job's events")
    exec: str | tuple[str, ...] = setting(
        Command(),
        "command: argv list, or a string split "
        "like a shell would (no shell runs it unless shell: true)",
    )
    shell: bool = setting(Bool(), "run exec under /bin/sh -c", False)
    env: tuple[tuple[str, str], ...] = setting(
        MapOf(Text(), key_kind=EnvName(), masked=secret_name),
        "extra environment variables (pilot validate masks those named like a secret)",
        (),
    )
    cwd: str | None = setting(Str(), "working directory", None)
    user: str | None = setting(Str(), "run as this user (pilot must be root)", None)
    group: str | None = setting(Str(), "run with this group (pilot must be root)", None)
    main: bool = setting(Bool(), "pilot exits with this job's exit code when it is over", False)
    when: When = setting(Obj(When), "what starts the job (default: once at startup)", STARTUP)
    restarts: float | None = setting(
        Restarts(),
        '"never", "unlimited" or a count (default: never; unlimited for periodic jobs)',
        None,
    )
    restart_on: str = setting(
        Choice("always", "failure"), "which exits lead to a restart", "always"
    )
    success_codes: tuple[int, ...] = setting(
        ListOf(Int(0, 255)), "exit codes that count as success", (0,)
    )
    backoff: Backoff = setting(Obj(Backoff), "delay between restarts", Backoff())
    timeout: float | None = setting(
        Duration(positive=True),
        "stop a run that lasts longer (periodic jobs: default the interval)",
        None,
    )
    stop: Stop = setting(Obj(Stop), "stop signal and timeout", Stop())
    forward: tuple[int, ...] = setting(
        ListOf(Signal(FORWARDABLE), single_ok=True),
        "signals to pilot that are passed on to this job",
        (),
    )
    logging: JobLogging = setting(Obj(JobLogging), "output handling", JobLogging())
    terminal: bool = setting(
        Bool(),
        "hand this job pilot's terminal (stdin, and the foreground: Ctrl-C then goes to the "
        "job, not to pilot), for interactive programs; one job at most",
        False,
    )
    health: Health | None = setting(
        Obj(Health), "how pilot checks the job (exec, http or tcp)", None
    )
    port: int | None = setting(
        Port(), 'register the job in Consul as a service on this port ("auto": pilot up)', None
    )
    service: str | None = setting(Str(), "service name (default: the job's name)", None)
    service_id: str | None = setting(
        Str(), "service ID (default: <service>-<hostname>-<port>)", None
    )
    interfaces: tuple[str, ...] = setting(
        ListOf(Str(), single_ok=True),
        "where the advertised "
        'address comes from: "eth0", "eth0:inet6", "inet", '
        'a CIDR, "static:IP"',
        (),
    )
    tags: tuple[str, ...] = setting(ListOf(Str()), "service tags", ())
    meta: tuple[tuple[str, str], ...] = setting(MapOf(Text()), "service meta", ())
    initial_status: str = setting(
        Choice("passing", "warning", "critical"),
        "status of the check when the service is registered",
        "critical",
    )
    consul: ServiceConsul = setting(Obj(ServiceConsul), "registration options", ServiceConsul())
    leader: Leader | None = setting(
        Obj(Leader), "take part in leader election for a Consul lock", None
    )
    drain: float = setting(
        Duration(), "on shutdown, wait this long after deregistering before stopping the job", 0.0
    )

    @property
    def argv(self) -> tuple[str, ...]:
        """The argv that runs the job."""
        if self.shell:
            script = self.exec if isinstance(self.exec, str) else shlex.join(self.exec)
            return ("/bin/sh", "-c", script)
        return tuple(shlex.split(self.exec)) if isinstance(self.exec, str) else self.exec

    @property
    def periodic(self) -> bool:
        return self.when.interval is not None

    @property
    def max_restarts(self) -> float:
        """Restarts allowed: for a periodic job, the runs after the first."""
        if self.restarts is not None:
            return self.restarts
        return math.inf if self.periodic else 0

    @property
    def run_timeout(self) -> float | None:
        return self.timeout if self.timeout is not None or not self.periodic else self.when.interval

    @property
    def service_name(self) -> str:
        return self.service or self.name

    @property
    def env_name(self) -> str:
        """The job's name as it appears in environment variable names."""
        return self.name.upper().replace("-", "_")


@section
class FileFromEnv:
    """A file written from a base64 environment variable before any job starts."""

    env: str = setting(Str(), "environment variable holding base64 (standard or URL-safe)")
    path: str = setting(Str(), "where to write the decoded bytes")
    mode: int = setting(FileMode(), "permissions", 0o600)
    optional: bool = setting(Bool(), "skip silently when the variable is not set", False)
    export: str | None = setting(
        Str(), "also put the path into every job's environment under this name", None
    )


@section
class Logging:
    """pilot's own log."""

    format: str = setting(Choice("text", "json"), "text lines or one JSON object per line", "text")
    level: str = setting(
        Choice("debug", "info", "warn", "error"), "least severe level shown", "info"
    )


@section
class ExitCodes:
    """How the main job's exit code becomes pilot's."""

    map: tuple[tuple[int, int], ...] = setting(
        MapOf(Int(0, 255), key_kind=Int(0, 255)), 'remap codes, e.g. {"143": 0}', ()
    )


class Ending(enum.Enum):
    """When pilot ends on its own; a signal always ends it."""

    MAIN_JOB = "main job"  # pilot.json5: once the main job is over, with its exit code
    EVERY_JOB = "every job"  # ContainerPilot: once every job is over, exit 0
    NEVER = "never"  # ContainerPilot with telemetry (its job never ends): only when stopped, 0


@section
class Config(UpConfig):
    """A whole pilot.json5."""

    jobs: tuple[JobConfig, ...] = setting(ListOf(Obj(JobConfig)), "the supervised jobs")
    files: tuple[FileFromEnv, ...] = setting(
        ListOf(Obj(FileFromEnv)), "files decoded from base64 environment variables", ()
    )
    logging: Logging = setting(Obj(Logging), "pilot's own log", Logging())
    stop_timeout: float = setting(Duration(), "bound on the whole shutdown sequence", 9.0)
    exit_codes: ExitCodes = setting(Obj(ExitCodes), "exit code remapping", ExitCodes())
    consul: ConsulConfig = setting(
        Obj(ConsulConfig, consul_shorthand),
        'the Consul agent: "host:port", "https://host:port", "embedded" or an object',
        ConsulConfig(),
    )
    watches: tuple[Watch, ...] = setting(ListOf(Obj(Watch)), "blocking queries on Consul", ())
    control: Control = setting(Obj(Control), "the control socket", Control())
    telemetry: Telemetry | None = setting(Obj(Telemetry), "Prometheus metrics and status", None)
    reload_on_sighup: bool = setting(Bool(), "SIGHUP to pilot also reloads the config", False)
    templates: tuple[Template, ...] = setting(
        ListOf(Obj(Template)), "files rendered from Consul data", ()
    )
    path: str = field(default="", compare=False)
    dialect: str = field(default="pilot.json5", compare=False)  # or CONTAINERPILOT
    # Set by the translator of a foreign dialect (config/containerpilot), never by pilot.json5:
    env_prefixes: tuple[str, ...] = ("PILOT",)  # of <PREFIX>_<JOB>_IP/_PID in jobs' env
    watch_every_change: bool = False  # a watch emits healthy/unhealthy after every change
    consul_required: bool = False  # connect to Consul even if nothing here needs it
    silent_sources: tuple[str, ...] = ()  # when.source names that exist but never emit
    short_ttl_ok: bool = False  # a health ttl no longer than its interval runs (and flaps)
    ending: Ending = Ending.MAIN_JOB
    announces_over: bool = False  # a job over for good emits stopping, stopped (not at shutdown)
    warnings: tuple[str, ...] = field(default=(), compare=False)  # "place: what", one a line
    serves_control: bool = field(default=True, compare=False)  # False: `pilot --` unasked

    def job(self, name: str) -> JobConfig:
        """The job called `name`."""
        return next(job for job in self.jobs if job.name == name)

    @property
    def main_job(self) -> JobConfig:
        """The job whose end ends pilot (resolved and checked by validation)."""
        marked = [job for job in self.jobs if job.main]
        advertised = [job for job in self.jobs if job.port is not None]
        return marked[0] if marked else advertised[0] if len(advertised) == 1 else self.jobs[0]

    @property
    def uses_consul(self) -> bool:
        """Whether anything needs the Consul client (always when `consul_required`, as for
        ContainerPilot's configs, whose telemetry registers whatever else they do)."""
        return (
            bool(self.watches or self.templates)
            or self.consul_required
            or self.consul.embedded
            or any(job.port is not None or job.leader is not None for job in self.jobs)
        )
