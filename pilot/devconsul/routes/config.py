"""Config entries (agent/config_endpoint.go): PUT /v1/config (`?cas=`), GET /v1/config/:kind,
GET and DELETE (`?cas=`) /v1/config/:kind/:name. service-defaults, proxy-defaults and the
discovery chain's service-router, -splitter and -resolver have their fields checked and are
returned in Consul's shape; the other kinds Consul knows are stored as given."""

from __future__ import annotations

from typing import Any

from pilot.devconsul.agent.registry import Registry
from pilot.devconsul.go.decode import DecodeError, parse_body
from pilot.devconsul.routes.blocking import Result, block
from pilot.devconsul.routes.query import query_options
from pilot.devconsul.routes.request import Request, Response
from pilot.devconsul.routes.router import Router
from pilot.devconsul.state.errors import ConsulError
from pilot.devconsul.state.store import Watch

TOPIC = "config-entries"
_COMMON = ("Kind", "Name", "Partition", "Namespace", "Meta")
_MESH = ("Mode", "TransparentProxy", "MutualTLSMode", "MeshGateway", "Expose", "EnvoyExtensions")
FIELDS: dict[str, tuple[str, ...]] = {
    "service-defaults": _COMMON
    + _MESH
    + (
        "Protocol",
        "ExternalSNI",
        "UpstreamConfig",
        "Destination",
        "MaxInboundConnections",
        "LocalConnectTimeoutMs",
        "LocalRequestTimeoutMs",
        "BalanceInboundConnections",
        "RateLimits",
    ),
    "proxy-defaults": _COMMON
    + _MESH
    + ("Config", "AccessLogs", "FailoverPolicy", "PrioritizeByLocality"),
    "service-router": (*_COMMON, "Routes"),
    "service-splitter": (*_COMMON, "Splits"),
    "service-resolver": (
        *_COMMON,
        "DefaultSubset",
        "Subsets",
        "Redirect",
        "Failover",
        "ConnectTimeout",
        "RequestTimeout",
        "LoadBalancer",
        "PrioritizeByLocality",
    ),
}
OTHER_KINDS = frozenset(
    {
        "ingress-gateway",
        "terminating-gateway",
        "service-intentions",
        "mesh",
        "exported-services",
        "api-gateway",
        "bound-api-gateway",
        "inline-certificate",
        "file-system-certificate",
        "http-route",
        "tcp-route",
        "jwt-provider",
    }
)
DEFAULTS: dict[str, dict[str, Any]] = {
    "service-defaults": {"TransparentProxy": {}, "MeshGateway": {}, "Expose": {}},
    "proxy-defaults": {"TransparentProxy": {}, "MeshGateway": {}, "Expose": {}},
}
HTTP_PROTOCOLS = ("http", "http2", "grpc")


def add_config_routes(router: Router, registry: Registry) -> None:
    """Serve /v1/config from `registry`."""
    routes = ConfigRoutes(registry)
    router.add("/v1/config", ("PUT",), routes.apply)
    router.add("/v1/config/", ("GET", "DELETE"), routes.serve)


class ConfigRoutes:
    """The config entry endpoints, entries kept by (kind, name)."""

    def __init__(self, registry: Registry) -> None:
        self.store = registry.store
        self.entries: dict[tuple[str, str], dict[str, Any]] = {}

    def apply(self, request: Request) -> Response:
        """PUT /v1/config[?cas=]: create or replace an entry; true, or false on a cas miss."""
        entry = _decode(request.body)
        cas = request.param("cas")
        if cas and not (cas.isascii() and cas.isdigit()):
            raise ConsulError(500, f'strconv.ParseUint: parsing "{cas}": invalid syntax')
        kind, name = entry["Kind"], entry["Name"]
        with self.store.write() as txn:
            self._validate(entry)
            old = self.entries.get((kind, name))
            if cas and int(cas) != (old["ModifyIndex"] if old else 0):
                return Response(body=False)
            index = txn.touch(TOPIC)
            entry["CreateIndex"] = old["CreateIndex"] if old else index
            entry["ModifyIndex"] = index
            self.entries[(kind, name)] = entry
        return Response(body=True)

    def serve(self, request: Request) -> Response:
        """GET /v1/config/:kind, GET or DELETE /v1/config/:kind/:name."""
        parts = request.rest.split("/", 1)
        if request.method == "DELETE":
            if len(parts) != 2:
                raise ConsulError(404, "Must provide both a kind and name to delete")
            return self._delete(request, parts[0], parts[1])
        query_options(request)
        kind = parts[0]
        _known(kind)

        def query() -> Result:
            if len(parts) == 2:
                body: Any = self.entries.get((kind, parts[1]))
                found = body is not None
            else:
                body = [e for (k, _), e in sorted(self.entries.items()) if k == kind]
                found = True
            return Result(self.store.index_of(TOPIC), body, Watch(frozenset({TOPIC})), found)

        result = block(self.store, request, query)
        if result.body is None:  # a 404 that still carries the query meta
            text = f'Config entry not found for "{kind}" / "{parts[1]}"'
            return Response(404, raw=text.encode(), index=result.index)
        return Response(body=result.body, index=result.index)

    def _delete(self, request: Request, kind: str, name: str) -> Response:
        _known(kind)
        cas = request.param("cas")
        with self.store.write() as txn:
            old = self.entries.get((kind, name))
            if cas is not None and (old is None or str(old["ModifyIndex"]) != cas):
                return Response(body=False)
            if old is not None:
                del self.entries[(kind, name)]
                txn.touch(TOPIC)
        return Response(body=True) if cas is not None else Response(body={})

    def _validate(self, entry: dict[str, Any]) -> None:
        """ConfigEntry.Apply's Normalize and Validate, for what consul-dev checks."""
        kind, name = entry["Kind"], entry["Name"]
        if kind == "proxy-defaults" and name != "global":
            raise ConsulError(500, f'invalid name ("{name}"), only "global" is supported')
        if kind in ("service-router", "service-splitter"):
            protocol = self._protocol(name)
            if protocol not in HTTP_PROTOCOLS:
                raise ConsulError(
                    500,
                    f'discovery chain "{name}" uses a protocol "{protocol}" that does not '
                    "permit advanced routing or splitting behavior",
                )

    def _protocol(self, service: str) -> str:
        defaults = self.entries.get(("service-defaults", service), {})
        proxy = self.entries.get(("proxy-defaults", "global"), {})
        fallback = (proxy.get("Config") or {}).get("protocol", "tcp")
        return str(defaults.get("Protocol") or fallback).lower()


def _known(kind: str) -> None:
    if kind not in FIELDS and kind not in OTHER_KINDS:
        raise ConsulError(500, f"invalid config entry kind: {kind}")


DECODE_FAILED = "Bad request: Request decoding failed: "  # BadRequestError's prefix


def _decode(body: bytes) -> dict[str, Any]:
    """DecodeConfigEntry: the kind first, then its fields by name, case and snake_case
    aside; unknown fields refused."""
    try:
        raw = parse_body(body)
    except DecodeError as error:
        raise ConsulError(400, DECODE_FAILED + f"{error}") from None
    if not isinstance(raw, dict):
        raise ConsulError(400, DECODE_FAILED + "json: cannot unmarshal into a map")
    kind = next((v for k, v in raw.items() if k.lower() == "kind"), None)
    if not isinstance(kind, str) or not kind:
        raise ConsulError(
            400,
            DECODE_FAILED + "Payload does not contain a kind/Kind key at the top level",
        )
    if kind not in FIELDS and kind not in OTHER_KINDS:
        raise ConsulError(400, DECODE_FAILED + f"invalid config entry kind: {kind}")
    fields = FIELDS.get(kind)
    entry: dict[str, Any] = {}
    unknown = []
    for key, value in raw.items():
        folded = key.replace("_", "").lower()
        name = next((f for f in fields or () if f.lower() == folded), None)
        if fields is None:
            name = key[:1].upper() + key[1:]
        if name is None:
            unknown.append(key)
        elif name not in ("CreateIndex", "ModifyIndex"):
            entry[name] = value
    if unknown:
        keys = ", ".join(sorted(unknown))
        raise ConsulError(
            400, DECODE_FAILED + f"1 error(s) decoding:\n\n* '' has invalid keys: {keys}"
        )
    entry["Kind"], entry["Name"] = kind, str(entry.get("Name") or "")
    if "Protocol" in entry and isinstance(entry["Protocol"], str):
        entry["Protocol"] = entry["Protocol"].lower()
    return {"Kind": kind, "Name": entry["Name"]} | DEFAULTS.get(kind, {}) | entry
