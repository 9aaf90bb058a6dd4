"""A ContainerPilot v2 config as the v3 config ContainerPilot's own upgrade would write: hooks,
services, backends, tasks and coprocesses become jobs and watches."""

from __future__ import annotations

from typing import Any

from pilot.config.containerpilot.decode import Decoder
from pilot.config.errors import ConfigErrors
from pilot.events import Code, watch_source


def v2_to_v3(
    raw: dict[str, Any], app: list[str] | None
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """v3 data for v2 data `raw`; `app` is the command v2 ran as its main process (given on
    its command line, so not in the file). Returns the data and notes for the reader.

    Raises:
        ConfigError: a key v2 did not have either, an etcd backend, a section of the wrong
            shape (every problem, placed).
    """
    known = {
        "consul",
        "etcd",
        "logging",
        "preStart",
        "preStop",
        "postStop",
        "stopTimeout",
        "services",
        "backends",
        "tasks",
        "coprocesses",
        "telemetry",
    }
    d = Decoder()
    for key in raw:
        if key not in known:
            d.fail(key, "unknown key in a ContainerPilot v2 config")
    if "etcd" in raw:
        d.fail("etcd", "pilot speaks to Consul only (as ContainerPilot 3)")
    sections = {key: _objects(d, raw.get(key), key, _REQUIRED[key]) for key in _REQUIRED}
    for hook in ("preStart", "preStop", "postStop"):
        if hook in raw and not isinstance(raw[hook], str | list):
            d.fail(hook, "must be a command: a string or a list of strings")
    if d.errors:
        raise ConfigErrors(d.errors) if len(d.errors) > 1 else d.errors[0]
    notes: list[tuple[str, str]] = []
    out: dict[str, Any] = {"consul": raw.get("consul")}
    for key in ("logging", "stopTimeout"):
        if key in raw:
            stop = raw[key]
            out[key] = max(stop, 0) if key == "stopTimeout" and isinstance(stop, int) else stop
    services = sections["services"]
    jobs: list[dict[str, Any]] = []
    if "preStart" in raw:
        jobs.append({"name": "preStart", "exec": raw["preStart"]})
    app_job: dict[str, Any] = {"name": "app"}
    if app:
        app_job["exec"] = app
    else:
        notes.append(
            (
                "jobs",
                "v2 ran the app given on its command line: `pilot convert FILE -- "
                "CMD ARGS...` puts it in the app job",
            )
        )
    if len(services) == 1 and app:
        app_job.update(_service(services.pop()))
    if "preStart" in raw:
        app_job["when"] = {"source": "preStart", "once": Code.EXIT_SUCCESS.value}
    if app or "port" in app_job:
        jobs.append(app_job)
    jobs += [_service(service) for service in services]
    main = app_job["name"] if app else None
    for hook, code in (("preStop", Code.STOPPING.value), ("postStop", Code.STOPPED.value)):
        if hook in raw and main is not None:
            jobs.append({"name": hook, "exec": raw[hook], "when": {"source": main, "once": code}})
        elif hook in raw:
            notes.append((hook, "runs around the app, which is not in the file: left out"))
    watches = []
    for backend in sections["backends"]:
        watch = {"name": backend["name"], "interval": backend.get("poll", 10)}
        if backend.get("tag"):
            watch["tag"] = backend["tag"]
        watches.append(watch)
        if backend.get("onChange"):
            job = {
                "name": f"onchange-{backend['name']}",
                "exec": backend["onChange"],
                "when": {"source": watch_source(backend["name"]), "each": Code.CHANGED.value},
            }
            if backend.get("timeout"):
                job["timeout"] = backend["timeout"]
            jobs.append(job)
    for task in sections["tasks"]:
        job = {
            "name": task["name"],
            "exec": task["command"],
            "when": {"interval": task["frequency"]},
        }
        if task.get("timeout"):
            job["timeout"] = task["timeout"]
        jobs.append(job)
    for coprocess in sections["coprocesses"]:
        job = {
            "name": coprocess.get("name") or _program(coprocess["command"]),
            "exec": coprocess["command"],
        }
        if "restarts" in coprocess:
            job["restarts"] = coprocess["restarts"]
        jobs.append(job)
    out["jobs"] = jobs
    if watches:
        out["watches"] = watches
    if isinstance(raw.get("telemetry"), dict):
        out["telemetry"], more = _telemetry(raw["telemetry"])
        notes += more
    elif raw.get("telemetry"):
        out["telemetry"] = raw["telemetry"]  # ContainerPilot 3's check says what is wrong
    return out, notes


_REQUIRED = {  # v2's sections that are lists of objects, with the keys each must have
    "services": ("name",),
    "backends": ("name",),
    "tasks": ("name", "command", "frequency"),
    "coprocesses": ("command",),
}


def _objects(d: Decoder, value: Any, place: str, required: tuple[str, ...]) -> list[dict[str, Any]]:
    """The objects of a v2 list section, each with its `required` keys (else errors in `d`)."""
    out = []
    for i, item in enumerate(d.items(value, place)):
        if not isinstance(item, dict):
            d.fail(f"{place}[{i}]", "must be an object")
            continue
        for key in required:
            if item.get(key) in (None, ""):
                d.fail(f"{place}[{i}].{key}", "is required")
        out.append(dict(item))
    return out


def _program(command: Any) -> str:
    """v2's name of an unnamed coprocess: its program's file name."""
    argv = command.split() if isinstance(command, str) else command
    return str(argv[0]).rsplit("/", 1)[-1] if argv else "coprocess"


def _service(service: dict[str, Any]) -> dict[str, Any]:
    job: dict[str, Any] = {"name": service["name"], "port": service.get("port")}
    health = {"interval": service.get("poll"), "ttl": service.get("ttl")}
    if service.get("health"):
        health["exec"] = service["health"]
    if service.get("timeout"):
        health["timeout"] = service["timeout"]
    job["health"] = health
    for key in ("interfaces", "tags", "consul"):
        if key in service:
            job[key] = service[key]
    return job


def _telemetry(telemetry: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    out: dict[str, Any] = {
        key: telemetry[key] for key in ("port", "interfaces", "tags") if key in telemetry
    }
    metrics, notes = [], []
    sensors = telemetry.get("sensors")
    for i, sensor in enumerate(sensors if isinstance(sensors, list) else []):
        if not isinstance(sensor, dict):
            continue
        metric = {
            k: sensor[k] for k in ("namespace", "subsystem", "name", "help", "type") if k in sensor
        }
        metrics.append(metric)
        notes.append(
            (
                f"telemetry.sensors[{i}]",
                f"sensors are gone: make {sensor.get('check')!r} "
                "push its value with `containerpilot -putmetric` from a periodic job",
            )
        )
    out["metrics"] = metrics
    return out, notes
