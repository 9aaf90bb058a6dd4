"""The top-level sections of a ContainerPilot v3 config other than jobs (consul, logging,
watches, telemetry) as pilot.json5 data."""

from __future__ import annotations

import re
from typing import Any

from pilot.config.containerpilot.decode import Decoder
from pilot.config.containerpilot.keys import CONSUL, LOGGING, METRIC, TELEMETRY, TLS, WATCH

DEFAULT_INTERFACES = ["eth0:inet", "inet"]
DEFAULT_CONSUL = "127.0.0.1:8500"
_PORT = re.compile(r":[0-9]+$")
SERVICE_NAME = re.compile(r"[a-z][a-zA-Z0-9\-]+")
Notes = list[tuple[str, str]]


def consul(d: Decoder, notes: Notes, warnings: Notes, value: Any) -> Any:
    """The `consul` section: a string as its address, an object with ContainerPilot's keys."""
    if isinstance(value, str):
        return consul_address(value, "consul", warnings)
    table = d.table(value, "consul", CONSUL)
    if table is None:
        return None
    address = d.string(table.get("address"), "consul.address") or ""
    out: dict[str, Any] = {"address": consul_address(address, "consul.address", warnings)}
    scheme = d.string(table.get("scheme"), "consul.scheme")
    if scheme:
        out["scheme"] = scheme
    token = d.string(table.get("token"), "consul.token")
    if token:
        out["token"] = token
    tls = d.table(table.get("tls"), "consul.tls", TLS) or {}
    names = {
        "cafile": "ca_file",
        "clientcert": "cert_file",
        "clientkey": "key_file",
        "servername": "server_name",
    }
    mapped: dict[str, Any] = {
        names[k]: d.string(v, f"consul.tls.{k}") for k, v in tls.items() if k in names
    }
    if tls.get("capath"):
        notes.append(("consul.tls.capath", "a CA directory is not read; use cafile"))
    # ContainerPilot's code verifies the agent's certificate only when told (verify: true).
    mapped["verify"] = bool(d.boolean(tls.get("verify"), "consul.tls.verify"))
    out["tls"] = mapped
    return out


def consul_address(address: str, place: str, warnings: Notes) -> str:
    """The agent's address as ContainerPilot's Consul client reads it: empty is the client's
    default, 127.0.0.1:8500; without a port, Go's HTTP client takes the scheme's (80 or 443)."""
    if not address:
        warnings.append((place, f"is empty: ContainerPilot uses the default {DEFAULT_CONSUL}"))
        return DEFAULT_CONSUL
    scheme, _, host = address.rpartition("://")
    if _PORT.search(host) or not host:
        return address
    port = "443" if scheme == "https" else "80"
    warnings.append(
        (
            place,
            f"{address!r} has no port: ContainerPilot connects to port {port} (Consul's "
            "HTTP API is usually on 8500)",
        )
    )
    return f"{address}:{port}"


def logging(d: Decoder, notes: Notes, value: Any) -> dict[str, str]:
    """The `logging` section: levels and formats as pilot names them."""
    table = d.table(value, "logging", LOGGING) or {}
    level = (d.string(table.get("level"), "logging.level") or "INFO").lower()
    levels = {
        "debug": "debug",
        "info": "info",
        "warn": "warn",
        "warning": "warn",
        "error": "error",
        "fatal": "error",
        "panic": "error",
    }
    if level not in levels:
        d.fail(
            "logging.level",
            f"unknown level {level!r}: DEBUG, INFO, WARN, ERROR, FATAL or PANIC",
        )
    fmt = (d.string(table.get("format"), "logging.format") or "default").lower()
    if fmt not in ("default", "text", "json"):
        d.fail("logging.format", f"unknown format {fmt!r}: default, text or json")
    output = d.string(table.get("output"), "logging.output") or "stdout"
    if output not in ("stdout", "stderr"):
        notes.append(("logging.output", f"pilot logs to stderr, not to {output!r}"))
    return {"level": levels.get(level, "info"), "format": "json" if fmt == "json" else "text"}


def watch(d: Decoder, raw: Any, place: str) -> dict[str, Any] | None:
    """A watch: passing instances of the service it names."""
    table = d.table(raw, place, WATCH)
    if table is None:
        return None
    name = d.string(table.get("name"), f"{place}.name") or ""
    if not SERVICE_NAME.fullmatch(name):
        d.fail(f"{place}.name", f"{name!r} is not a service name: ^[a-z][a-zA-Z0-9-]+$")
    interval = d.integer(table.get("interval"), f"{place}.interval")
    if not interval or interval < 1:
        d.fail(f"{place}.interval", "must be > 0 (whole seconds)")
    out: dict[str, Any] = {"name": name, "service": name, "passing": True}
    tag = d.string(table.get("tag"), f"{place}.tag")
    if tag:
        out["tags"] = [tag]
    dc = d.string(table.get("dc"), f"{place}.dc")
    if dc:
        out["datacenter"] = dc
    return out


def telemetry(d: Decoder, raw: Any, hostname: str) -> dict[str, Any]:
    """The `telemetry` section, registered as service `containerpilot` (ID
    `containerpilot-<hostname>`)."""
    table = d.table(raw, "telemetry", TELEMETRY) or {}
    out: dict[str, Any] = {"port": d.integer(table.get("port"), "telemetry.port") or 9090}
    out["interfaces"] = (
        d.strings(table.get("interfaces"), "telemetry.interfaces") or DEFAULT_INTERFACES
    )
    out["metrics"] = []
    for i, metric in enumerate(d.items(table.get("metrics"), "telemetry.metrics")):
        spec = d.table(metric, f"telemetry.metrics[{i}]", METRIC)
        if spec is None:
            continue
        parts = [d.string(spec.get(k), f"telemetry.metrics[{i}].{k}") or "" for k in METRIC[:3]]
        kind = d.string(spec.get("type"), f"telemetry.metrics[{i}].type") or ""
        if kind not in ("counter", "gauge", "histogram", "summary"):
            d.fail(f"telemetry.metrics[{i}].type", f"invalid metric type: {kind}")
        entry = {"name": "_".join(part for part in parts if part), "type": kind}
        help_text = d.string(spec.get("help"), f"telemetry.metrics[{i}].help")
        if help_text:
            entry["help"] = help_text
        out["metrics"].append(entry)
    out["service"] = "containerpilot"
    out["service_id"] = f"containerpilot-{hostname}"
    out["tags"] = d.strings(table.get("tags"), "telemetry.tags") or []
    return out
