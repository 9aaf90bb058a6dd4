"""A ContainerPilot v3 config (already rendered and parsed) as the equivalent pilot.json5 data,
with ContainerPilot's keys, types, defaults and refusals (those of its 3.8 loader)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pilot.config.containerpilot import v3_sections as sections
from pilot.config.containerpilot.decode import Decoder
from pilot.config.containerpilot.keys import (
    HEALTH,
    JOB,
    TOP,
    V2_KEYS,
    WHEN,
)
from pilot.config.containerpilot.v3_sections import DEFAULT_INTERFACES, SERVICE_NAME
from pilot.config.durations import format_duration
from pilot.config.errors import ConfigError, ConfigErrors
from pilot.config.model import Ending
from pilot.events import Code

EVENT_CODES = {  # the codes ContainerPilot accepts in once/each, all of them also pilot's
    code.value
    for code in (
        Code.EXIT_SUCCESS, Code.EXIT_FAILED, Code.STOPPING, Code.STOPPED, Code.HEALTHY,
        Code.UNHEALTHY, Code.CHANGED, Code.ENTER_MAINTENANCE, Code.EXIT_MAINTENANCE,
        Code.STARTUP, Code.SHUTDOWN,
    )
}  # fmt: skip
INTERNAL_CODES = {"timerExpired", "error", "quit"}
SIGNAL_SOURCES = ("SIGHUP", "SIGUSR2")
DEFAULT_SOCKET = "/var/run/containerpilot.socket"
DEFAULT_STOP_TIMEOUT = 5
IDLE_EXEC = ["sleep", "2147483647"]  # a job without exec: nothing runs, it only advertises
_NO_SOURCE = "(no source)"  # an empty when.source: no event has it
_NATIVE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


@dataclass
class Translation:
    """pilot.json5 data for a v3 config, and what a reader of the conversion should know."""

    native: dict[str, Any]
    notes: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # what ContainerPilot allows
    settings: dict[str, Any] = field(default_factory=dict)  # Config fields of the dialect


def translate(raw: dict[str, Any], hostname: str | None = None) -> Translation:
    """The native config data of ContainerPilot v3 data `raw`.

    Raises:
        ConfigError: everything ContainerPilot would refuse (a ConfigErrors when several).
    """
    import socket

    return _Translator(hostname or socket.gethostname()).run(raw)


class _Translator:
    def __init__(self, hostname: str) -> None:
        self.d = Decoder()
        self.hostname = hostname
        self.notes: list[tuple[str, str]] = []
        self.warnings: list[tuple[str, str]] = []
        self.silent: list[str] = []
        self.short_ttl = False
        self.watches: set[str] = set()
        self.names: dict[str, str] = {}
        self.cp_names: list[str] = []
        self.native_names: list[str] = []  # by index: ContainerPilot allows duplicate names

    def run(self, raw: dict[str, Any]) -> Translation:
        d = self.d
        d.table(raw, "", TOP)
        native: dict[str, Any] = {}
        if raw.get("consul") is None:
            d.fail("consul", "is required: ContainerPilot has no discovery backend without it")
        else:
            native["consul"] = sections.consul(d, self.notes, self.warnings, raw["consul"])
        stop = d.integer(raw.get("stopTimeout"), "stopTimeout") or DEFAULT_STOP_TIMEOUT
        native["stop_timeout"] = max(stop, 0)
        if "logging" in raw:
            native["logging"] = sections.logging(d, self.notes, raw["logging"])
        control = d.table(raw.get("control"), "control", ("socket",)) or {}
        native["control"] = {
            "socket": d.string(control.get("socket"), "control.socket") or DEFAULT_SOCKET
        }
        jobs = d.items(raw.get("jobs"), "jobs")
        self.names = self.job_names(jobs)
        listed = raw.get("watches")
        if isinstance(listed, list):
            self.watches = {f"watch.{w.get('name')}" for w in listed if isinstance(w, dict)}
        native["jobs"] = [self.job(job, i, max(stop, 0)) for i, job in enumerate(jobs)]
        native["jobs"] = [job for job in native["jobs"] if job is not None]
        watches = [
            sections.watch(d, w, f"watches[{i}]")
            for i, w in enumerate(d.items(raw.get("watches"), "watches"))
        ]
        if watches:
            native["watches"] = [w for w in watches if w is not None]
        if raw.get("telemetry") is not None:
            native["telemetry"] = sections.telemetry(d, raw["telemetry"], self.hostname)
        if d.errors:
            raise ConfigErrors(d.errors) if len(d.errors) > 1 else d.errors[0]
        settings = {
            "env_prefixes": ("PILOT", "CONTAINERPILOT"),
            "watch_every_change": True,  # its watches: healthy/unhealthy after every change
            "consul_required": True,  # it has no discovery backend without Consul
            "silent_sources": tuple(self.silent),
            "short_ttl_ok": self.short_ttl,
            # it runs until every job is over; its telemetry is a job that never is
            "ending": Ending.EVERY_JOB if raw.get("telemetry") is None else Ending.NEVER,
            "announces_over": True,  # its jobs' stopping and stopped, whenever each is over
        }
        return Translation(native, self.notes, self.warnings, settings)

    def job_names(self, jobs: list[Any]) -> dict[str, str]:
        """ContainerPilot names (free-form unless advertised; never empty) to pilot names
        (letters, digits, '-' and '_'), each unique."""
        names: dict[str, str] = {}
        taken: set[str] = set()
        for i, job in enumerate(jobs):
            if not isinstance(job, dict):
                self.cp_names.append("")
                self.native_names.append("")
                continue
            name = self.d.string(job.get("name"), f"jobs[{i}].name") or ""
            if not name:  # 3.8's check runs before the name would be taken from the exec
                self.d.fail(f"jobs[{i}].name", "must not be blank (ContainerPilot refuses it)")
                name = f"job{i}"
            native = re.sub(r"[^A-Za-z0-9_-]", "_", name.rsplit("/", 1)[-1])
            if not _NATIVE_NAME.fullmatch(native) or native in ("global", "pilot", *SIGNAL_SOURCES):
                native = f"job-{native}"
            while native in taken:
                native += "_"
            taken.add(native)
            names.setdefault(name, native)
            self.cp_names.append(name)
            self.native_names.append(native)
        return names

    def job(self, raw: Any, index: int, stop_timeout: int) -> dict[str, Any] | None:
        d = self.d
        place = f"jobs[{index}]"
        table = d.table(raw, place, JOB)
        if table is None:
            if raw is None:
                d.fail(place, "must be an object")
            return None
        name = self.cp_names[index]
        out: dict[str, Any] = {"name": self.native_names[index]}
        if name != out["name"]:
            self.notes.append((place, f"job {name!r} is called {out['name']!r} in pilot"))
        if "exec" in table:
            argv = _argv(table["exec"])
            if argv is None:
                d.fail(f"{place}.exec", "must be a string or a list of strings")
            elif not argv or not argv[0]:
                d.fail(f"{place}.exec", "received zero-length argument")
            else:
                out["exec"] = argv
        else:
            out["exec"] = IDLE_EXEC
            self.notes.append((place, "no exec: pilot runs `sleep` in its place"))
        port = d.integer(table.get("port"), f"{place}.port") or 0
        health = self.health(table.get("health"), f"{place}.health")
        if port:
            if health is None and name != "containerpilot":
                d.fail(f"{place}.health", "must be set if 'port' is set")
            if not SERVICE_NAME.fullmatch(name):
                d.fail(f"{place}.name", f"{name!r} is not a service name: ^[a-z][a-zA-Z0-9-]+$")
            out["port"] = port
            out["service"] = name
            out["service_id"] = f"{name}-{self.hostname}"
            specs = d.strings(table.get("interfaces"), f"{place}.interfaces")
            out["interfaces"] = specs or DEFAULT_INTERFACES
            out["tags"] = d.strings(table.get("tags"), f"{place}.tags") or []
            status = d.string(table.get("initial_status"), f"{place}.initial_status")
            if status:
                if status not in ("passing", "warning", "critical"):
                    d.fail(
                        f"{place}.initial_status",
                        "must be one of 'passing', 'warning' or 'critical'",
                    )
                out["initial_status"] = status
            extras = d.table(
                table.get("consul"),
                f"{place}.consul",
                ("enableTagOverride", "deregisterCriticalServiceAfter"),
            )
            if extras is not None:
                out["consul"] = self.registration(extras, f"{place}.consul")
        if health is not None:
            out["health"] = health
        self.when(table, place, out)
        timeout = d.duration(table.get("timeout"), f"{place}.timeout", least=0.001)
        if timeout is not None:
            out["timeout"] = format_duration(timeout)
        d.duration(table.get("stopTimeout"), f"{place}.stopTimeout")
        self.restarts(table, place, out)
        logging = d.table(table.get("logging"), f"{place}.logging", ("raw",))
        if logging is not None and d.boolean(logging.get("raw"), f"{place}.logging.raw"):
            out["logging"] = {"raw": True}
        out["stop"] = {"signal": "SIGTERM", "timeout": f"{stop_timeout}s"}
        out["restart_on"] = "always"
        return out

    def registration(self, extras: dict[str, Any], place: str) -> dict[str, Any]:
        d = self.d
        out: dict[str, Any] = {}
        override = d.boolean(extras.get("enableTagOverride"), f"{place}.enableTagOverride")
        if override:
            out["enable_tag_override"] = True
        after = d.string(
            extras.get("deregisterCriticalServiceAfter"), f"{place}.deregisterCriticalServiceAfter"
        )
        seconds = d.duration(after, f"{place}.deregisterCriticalServiceAfter")
        if not after:  # ContainerPilot parses it whenever the block is there
            d.fail(
                f"{place}.deregisterCriticalServiceAfter",
                "is required in a consul block (ContainerPilot cannot parse '')",
            )
        elif seconds is not None:
            out["deregister_critical_service_after"] = format_duration(seconds)
        return out

    def health(self, raw: Any, place: str) -> dict[str, Any] | None:
        d = self.d
        table = d.table(raw, place, HEALTH)
        if table is None:
            return None
        interval = d.integer(table.get("interval"), f"{place}.interval")
        ttl = d.integer(table.get("ttl"), f"{place}.ttl")
        if not interval or interval < 1:
            d.fail(f"{place}.interval", "must be > 0 (whole seconds)")
        if not ttl or ttl < 1:
            d.fail(f"{place}.ttl", "must be > 0 (whole seconds)")
        elif interval and ttl <= interval:
            self.short_ttl = True
            self.warnings.append(
                (
                    f"{place}.ttl",
                    f"{ttl}s is not longer than the interval ({interval}s): the "
                    "check may expire between two runs (ContainerPilot allows it)",
                )
            )
        out: dict[str, Any] = {"interval": f"{interval or 1}s", "ttl": f"{ttl or 1}s"}
        argv = _argv(table.get("exec")) if "exec" in table else ["true"]
        if not argv or not argv[0]:
            d.fail(f"{place}.exec", "received zero-length argument")
        else:
            out["exec"] = argv
        timeout = d.duration(table.get("timeout"), f"{place}.timeout")
        if timeout:
            out["timeout"] = format_duration(timeout)
        d.table(table.get("logging"), f"{place}.logging", ("raw",))
        return out

    def when(self, table: dict[str, Any], place: str, out: dict[str, Any]) -> None:
        d = self.d
        when = d.table(table.get("when"), f"{place}.when", WHEN)
        if when is None:
            return
        at = f"{place}.when"
        given = [key for key in ("interval", "once", "each") if when.get(key) not in (None, "")]
        if len(given) > 1:
            d.fail(at, "can have only one of 'interval', 'once', or 'each'")
            return
        if given == ["interval"]:
            interval = d.duration(when["interval"], f"{at}.interval", least=0.001)
            if interval is not None:
                out["when"] = {"interval": format_duration(max(interval, 0.1))}
                if interval < 0.1:
                    self.notes.append((f"{at}.interval", "raised to pilot's floor of 100ms"))
            return
        source = d.string(when.get("source"), f"{at}.source") or ""
        native: dict[str, Any] = {"source": self.source(source, f"{at}.source")}
        if source in SIGNAL_SOURCES:
            native["each"] = source
        elif given:
            code = d.string(when[given[0]], f"{at}.{given[0]}") or ""
            if code in INTERNAL_CODES:
                d.fail(
                    f"{at}.{given[0]}",
                    f"{code!r} is internal to ContainerPilot; pilot has no such event",
                )
            elif code not in EVENT_CODES:
                d.fail(f"{at}.{given[0]}", f"unknown event {code!r}")
            native[given[0]] = code
        else:
            d.fail(at, "needs once, each or interval (nothing would ever start this job)")
        timeout = d.duration(when.get("timeout"), f"{at}.timeout")
        if timeout:
            native["timeout"] = format_duration(timeout)
        out["when"] = native

    def source(self, source: str, place: str) -> str:
        """The pilot source of ContainerPilot's `when.source`; one that nothing emits (no such
        job or watch, or empty) is kept, silent, as ContainerPilot waits for it for ever."""
        if source in self.names:
            return self.names[source]
        if source in ("global", *SIGNAL_SOURCES) or source in self.watches:
            return source
        silent = source or _NO_SOURCE
        if silent in self.names.values():  # a name pilot gave a job: not that job's events
            silent = f"{silent} (silent)"
        if silent not in self.silent:
            self.silent.append(silent)
        what = f"{source!r} names no job or watch" if source else "is empty"
        self.warnings.append((place, f"{what}: this job never starts (as in ContainerPilot)"))
        return silent

    def restarts(self, table: dict[str, Any], place: str, out: dict[str, Any]) -> None:
        value = table.get("restarts")
        if value is None:
            return
        when = table.get("when")
        if value == "unlimited" and isinstance(when, dict) and when.get("each"):
            self.d.fail(
                f"{place}.restarts",
                "field 'unlimited' invalid: may not be used when 'job.when.each' is set",
            )
        count: int | None = None
        if isinstance(value, str) and value.isdigit():
            count = int(value)
        elif isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            count = int(value) if value != float("inf") else None
        if value in ("never", "unlimited"):
            out["restarts"] = value
        elif count is None:
            self.d.fail(
                f"{place}.restarts",
                f'field {value!r} invalid: accepts positive integers, "unlimited", or "never"',
            )
        else:
            out["restarts"] = count or "never"


def _argv(value: Any) -> list[str] | None:
    """ContainerPilot's exec: a string split on single spaces (no shell, no quoting), or a
    list of strings."""
    if isinstance(value, str):
        return value.strip().split(" ") if value else []
    if isinstance(value, list) and all(isinstance(arg, str | int | float) for arg in value):
        return [arg if isinstance(arg, str) else str(arg) for arg in value]
    return None


def refuse_v2(raw: dict[str, Any]) -> ConfigError | None:
    """The error for a ContainerPilot v2 config (its keys), or None."""
    found = [key for key in V2_KEYS if key in raw]
    if not found:
        return None
    return ConfigError(
        found[0],
        "this is a ContainerPilot v2 config (services, backends, preStart...), which "
        "ContainerPilot 3 no longer reads: `pilot convert FILE` writes its pilot.json5",
    )
