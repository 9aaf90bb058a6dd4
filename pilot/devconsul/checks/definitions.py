"""What clients send to register services and checks (ServiceDefinition, CheckType,
CheckDefinition), decoded and validated with Consul's rules and error texts."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pilot.devconsul.go.decode import (
    ANY,
    BOOL,
    DURATION,
    HEADERS,
    INT,
    STRING,
    STRING_MAP,
    STRINGS,
    ListOf,
    MapOf,
    Struct,
)
from pilot.devconsul.go.durations import format_go_duration
from pilot.devconsul.state.errors import ConsulError

_CHECK_FIELDS = {
    "CheckID": STRING,
    "Name": STRING,
    "Status": STRING,
    "Notes": STRING,
    "ScriptArgs": STRINGS,
    "HTTP": STRING,
    "Header": HEADERS,
    "Method": STRING,
    "Body": STRING,
    "DisableRedirects": BOOL,
    "TCP": STRING,
    "TCPUseTLS": BOOL,
    "UDP": STRING,
    "Interval": DURATION,
    "AliasNode": STRING,
    "AliasService": STRING,
    "DockerContainerID": STRING,
    "Shell": STRING,
    "GRPC": STRING,
    "GRPCUseTLS": BOOL,
    "OSService": STRING,
    "TLSServerName": STRING,
    "TLSSkipVerify": BOOL,
    "Timeout": DURATION,
    "TTL": DURATION,
    "H2PING": STRING,
    "H2PingUseTLS": BOOL,
    "SuccessBeforePassing": INT,
    "FailuresBeforeWarning": INT,
    "FailuresBeforeCritical": INT,
    "DeregisterCriticalServiceAfter": DURATION,
    "OutputMaxSize": INT,
}
_CHECK_ALIASES = {
    "id": "CheckID",
    "args": "ScriptArgs",
    "script_args": "ScriptArgs",
    "disable_redirects": "DisableRedirects",
    "tcp_use_tls": "TCPUseTLS",
    "alias_node": "AliasNode",
    "alias_service": "AliasService",
    "docker_container_id": "DockerContainerID",
    "grpc_use_tls": "GRPCUseTLS",
    "os_service": "OSService",
    "tls_server_name": "TLSServerName",
    "tls_skip_verify": "TLSSkipVerify",
    "h2ping_use_tls": "H2PingUseTLS",
    "success_before_passing": "SuccessBeforePassing",
    "failures_before_warning": "FailuresBeforeWarning",
    "failures_before_critical": "FailuresBeforeCritical",
    "deregister_critical_service_after": "DeregisterCriticalServiceAfter",
    "output_max_size": "OutputMaxSize",
}
CHECK_TYPE = Struct("CheckType", _CHECK_FIELDS, _CHECK_ALIASES)
CHECK_DEFINITION = Struct(
    "CheckDefinition",
    {**_CHECK_FIELDS, "ServiceID": STRING, "Token": STRING},
    {**_CHECK_ALIASES, "service_id": "ServiceID"},
)
SERVICE_DEFINITION = Struct(
    "ServiceDefinition",
    {
        "Kind": STRING,
        "ID": STRING,
        "Name": STRING,
        "Tags": STRINGS,
        "Address": STRING,
        "TaggedAddresses": MapOf(Struct("ServiceAddress", {"Address": STRING, "Port": INT})),
        "Meta": STRING_MAP,
        "Port": INT,
        "SocketPath": STRING,
        "Check": CHECK_TYPE,
        "Checks": ListOf(CHECK_TYPE),
        "Weights": Struct("Weights", {"Passing": INT, "Warning": INT}),
        "Token": STRING,
        "EnableTagOverride": BOOL,
        "Proxy": ANY,
        "Connect": ANY,
        "Locality": ANY,
    },
    {
        "tagged_addresses": "TaggedAddresses",
        "enable_tag_override": "EnableTagOverride",
        "socket_path": "SocketPath",
    },
)

_META_KEY = re.compile(r"[a-zA-Z0-9_-]+")


@dataclass
class CheckSpec:
    """How a check is run: Consul's CheckType, durations in nanoseconds."""

    check_id: str = ""
    name: str = ""
    status: str = ""
    notes: str = ""
    kind: str = ""
    ttl: int = 0
    interval: int = 0
    timeout: int = 0
    http: str = ""
    method: str = ""
    header: dict[str, list[str]] = field(default_factory=dict)
    body: str = ""
    disable_redirects: bool = False
    tls_skip_verify: bool = False
    tls_server_name: str = ""
    tcp: str = ""
    args: list[str] = field(default_factory=list)
    deregister_after: int = 0
    output_max_size: int = 0
    success_before_passing: int = 0
    failures_before_warning: int = 0
    failures_before_critical: int = 0
    # /v1/agent/check/register goes through CheckDefinition.HealthCheck, which prints an unset
    # duration as "0s"; checks given with a service print it as "".
    unset_as_zero: bool = False

    @property
    def interval_text(self) -> str:
        """The interval as Consul prints it."""
        return self._duration_text(self.interval)

    @property
    def timeout_text(self) -> str:
        """The timeout as Consul prints it."""
        return self._duration_text(self.timeout)

    def _duration_text(self, nanoseconds: int) -> str:
        if nanoseconds or self.unset_as_zero:
            return format_go_duration(nanoseconds)
        return ""


def check_spec(raw: dict[str, Any]) -> CheckSpec:
    """A decoded CheckType as a spec, validated as `CheckType.Validate` does.

    Raises:
        ConsulError: 400 "Invalid check: <reason>".
    """
    interval, ttl = raw.get("Interval", 0), raw.get("TTL", 0)
    script = bool(raw.get("ScriptArgs"))
    alias = bool(raw.get("AliasNode") or raw.get("AliasService"))
    needs_interval = script or any(
        raw.get(k) for k in ("HTTP", "TCP", "UDP", "GRPC", "H2PING", "OSService")
    )
    reason = None
    if interval > 0 and ttl > 0:
        reason = "Interval and TTL cannot both be specified"
    elif needs_interval and interval <= 0:
        reason = "Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks"
    elif alias and ttl:
        reason = "TTL must be not be set for Alias checks"
    elif alias and interval:
        reason = "Interval cannot be set for Alias checks"
    elif not needs_interval and not alias and ttl <= 0:
        reason = "TTL must be > 0 for TTL checks"
    elif raw.get("OutputMaxSize", 0) < 0:
        reason = "MaxOutputMaxSize must be positive"
    elif raw.get("FailuresBeforeWarning", 0) > raw.get("FailuresBeforeCritical", 0):
        reason = "FailuresBeforeWarning can't be higher than FailuresBeforeCritical"
    if reason:
        raise ConsulError(400, f"Invalid check: {reason}")
    return CheckSpec(
        check_id=raw.get("CheckID", ""),
        name=raw.get("Name", ""),
        status=raw.get("Status", ""),
        notes=raw.get("Notes", ""),
        kind=_kind(raw, script, alias),
        ttl=ttl,
        interval=interval,
        timeout=raw.get("Timeout", 0),
        http=raw.get("HTTP", ""),
        method=raw.get("Method", ""),
        header=raw.get("Header", {}),
        body=raw.get("Body", ""),
        disable_redirects=raw.get("DisableRedirects", False),
        tls_skip_verify=raw.get("TLSSkipVerify", False),
        tls_server_name=raw.get("TLSServerName", ""),
        tcp=raw.get("TCP", ""),
        args=raw.get("ScriptArgs", []),
        deregister_after=raw.get("DeregisterCriticalServiceAfter", 0),
        output_max_size=raw.get("OutputMaxSize", 0),
        success_before_passing=raw.get("SuccessBeforePassing", 0),
        failures_before_warning=raw.get(
            "FailuresBeforeWarning", raw.get("FailuresBeforeCritical", 0)
        ),
        failures_before_critical=raw.get("FailuresBeforeCritical", 0),
    )


def _kind(raw: dict[str, Any], script: bool, alias: bool) -> str:
    """CheckType.Type(), in Consul's order of precedence."""
    interval = raw.get("Interval", 0) > 0
    if raw.get("GRPC") and interval:
        return "grpc"
    if raw.get("HTTP") and interval:
        return "http"
    if raw.get("TTL", 0) > 0:
        return "ttl"
    for key, kind in (("TCP", "tcp"), ("UDP", "udp")):
        if raw.get(key) and interval:
            return kind
    if alias:
        return "alias"
    if script:
        return "docker" if raw.get("DockerContainerID") and interval else "script"
    if raw.get("H2PING") and interval:
        return "h2ping"
    return "os_service" if raw.get("OSService") and interval else ""


def meta_problem(meta: dict[str, str]) -> str | None:
    """Why Consul would refuse this service metadata (ValidateServiceMetadata), if it would."""
    if len(meta) > 64:
        return "Node metadata cannot contain more than 64 key/value pairs"
    for key, value in meta.items():
        reason = None
        if not key:
            reason = "Key cannot be blank"
        elif not _META_KEY.fullmatch(key):
            reason = "Key contains invalid characters"
        elif len(key) > 128:
            reason = "Key is too long (limit: 128 characters)"
        elif key.startswith("consul-"):
            reason = "Key prefix 'consul-' is reserved for internal use"
        elif len(value) > 512:
            reason = "Value is too long (limit: 512 characters)"
        if reason:
            return f"Couldn't load metadata pair ('{key}', '{value}'): {reason}"
    return None
