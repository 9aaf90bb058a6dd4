"""GET, PUT and DELETE /v1/kv/:key, as Consul's kvs_endpoint answers them."""

from __future__ import annotations

from urllib.parse import urlencode

from pilot.devconsul.agent.registry import Registry
from pilot.devconsul.routes.blocking import Result, block
from pilot.devconsul.routes.query import query_options
from pilot.devconsul.routes.request import Request, Response
from pilot.devconsul.routes.router import Router
from pilot.devconsul.routes.views import kv_json
from pilot.devconsul.state.errors import ConsulError
from pilot.devconsul.state.kv import key_topic
from pilot.devconsul.state.store import Watch

MAX_VALUE_SIZE = 512 * 1024  # kv_max_value_size
RAW_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"}


def add_kv_routes(router: Router, registry: Registry) -> None:
    """Serve /v1/kv/ from `registry`."""
    routes = KVRoutes(registry)
    router.add("/v1/kv/", ("GET", "PUT", "DELETE"), routes.serve)


class KVRoutes:
    """The KV endpoint."""

    def __init__(self, registry: Registry) -> None:
        self.store, self.entries, self.sessions = registry.store, registry.kv, registry.sessions

    def serve(self, request: Request) -> Response:
        """Dispatch on the method, after Consul's common query parsing."""
        query_options(request)
        if request.method == "PUT":
            return self.put(request)
        if request.method == "DELETE":
            return self.delete(request)
        return self.keys(request) if request.has("keys") else self.get(request)

    def get(self, request: Request) -> Response:
        """One entry, or with `?recurse` every entry under a prefix; `?raw` gives the value
        alone. A missing key is a 404 that still carries the index, and a blocking GET on it
        waits until it exists."""
        key, recurse = request.rest, request.has("recurse")
        if not recurse and not key:
            raise ConsulError(400, "Missing key name")
        raw = request.has("raw") and not recurse

        def query() -> Result:
            if recurse:
                entries = [kv_json(e) for e in self.entries.under(key)]
                watch = Watch(prefixes=(key_topic(key),))
                return Result(self.entries.prefix_index(key), entries or None, watch)
            entry = self.entries.entries.get(key)
            watch = Watch(frozenset({key_topic(key)}))
            if entry is None:
                return Result(self.entries.table_index(), None, watch, found=False)
            body = (entry.value or b"") if raw else [kv_json(entry)]
            return Result(entry.modify_index, body, watch)

        result = block(self.store, request, query)
        if result.body is None:
            return Response(404, index=result.index)
        if raw:
            return Response(
                raw=result.body, content_type="text/plain", index=result.index, headers=RAW_HEADERS
            )
        return Response(body=result.body, index=result.index)

    def keys(self, request: Request) -> Response:
        """The keys under a prefix, cut after the first `separator` past it."""
        prefix = request.rest
        separator = request.param("separator") or request.param("seperator") or ""

        def query() -> Result:
            found: list[str] = []
            for entry in self.entries.under(prefix):
                rest = entry.key[len(prefix) :]
                cut = rest.find(separator) if separator else -1
                name = entry.key if cut < 0 else prefix + rest[: cut + len(separator)]
                if name not in found:
                    found.append(name)
            watch = Watch(prefixes=(key_topic(prefix),))
            return Result(self.entries.prefix_index(prefix), found, watch)

        result = block(self.store, request, query)
        if not result.body and prefix:
            return Response(404, index=result.index)
        return Response(body=result.body, index=result.index)

    def put(self, request: Request) -> Response:
        """A write: plain, `?cas=`, `?acquire=` or `?release=`; answers true or false."""
        key = request.rest
        if not key:
            raise ConsulError(400, "Missing key name")
        _conflicting(request, "cas", "acquire", "release")
        flags = _uint(request, "flags")
        cas = _uint(request, "cas")
        if len(request.body) > MAX_VALUE_SIZE:
            raise ConsulError(
                413,
                f"Request body({len(request.body)} bytes) too large, max size: "
                f"{MAX_VALUE_SIZE} bytes. See "
                "https://www.consul.io/docs/agent/config/config-files#kv_max_value_size.",
            )
        value = request.body or None
        acquire, release = request.param("acquire"), request.param("release")
        with self.store.write() as txn:
            if acquire is not None:
                if self.entries.locked_out(key):
                    return Response(body=False)
                self._known_session(acquire)
                done = self.entries.acquire(txn, key, value, flags or 0, acquire)
            elif release is not None:
                if not release:
                    raise ConsulError(500, "missing session")
                done = self.entries.release(txn, key, value, flags or 0, release)
            elif cas is not None:
                done = self.entries.cas(txn, key, value, flags or 0, cas)
            else:
                self.entries.set(txn, key, value, flags or 0)
                done = True
        return Response(body=done)

    def delete(self, request: Request) -> Response:
        """Delete a key, or with `?recurse` a prefix; with `?cas=` only that version."""
        key = request.rest
        _conflicting(request, "recurse", "cas")
        recurse = request.has("recurse")
        if not recurse and not key:
            raise ConsulError(400, "Missing key name")
        cas = _uint(request, "cas")
        with self.store.write() as txn:
            if recurse:
                self.entries.delete_tree(txn, key)
            elif cas is not None:
                return Response(body=self.entries.delete_cas(txn, key, cas))
            else:
                self.entries.delete(txn, key)
        return Response(body=True)

    def _known_session(self, session_id: str) -> None:
        if not session_id:
            raise ConsulError(500, "missing session")
        problem = uuid_problem(session_id)
        if problem:
            raise ConsulError(500, f"failed session lookup: index error: {problem}")
        if session_id not in self.sessions.table:
            raise ConsulError(500, f'invalid session "{session_id}"')


def uuid_problem(text: str) -> str:
    """Why go-memdb's UUID index refuses `text` as a key ("" if it takes it)."""
    if len(text) != 36:
        return "UUID must be 36 characters"
    hyphens = text.count("-")
    if hyphens > 4:
        return f'UUID should have maximum of 4 "-"; got {hyphens}'
    bare = text.replace("-", "")
    if len(bare) % 2:
        return "Input (without hyphens) must be even length"
    bad = next((c for c in bare if c not in "0123456789abcdefABCDEF"), None)
    if bad is not None:
        return f"Invalid UUID: encoding/hex: invalid byte: U+{ord(bad):04X} {bad!r}"
    return ""


def _conflicting(request: Request, *flags: str) -> None:
    if sum(request.has(flag) for flag in flags) > 1:
        encoded = urlencode(sorted(request.params.items()), doseq=True)
        raise ConsulError(400, "Conflicting flags: " + encoded)


def _uint(request: Request, name: str) -> int | None:
    """A uint64 parameter, with Go's strconv error (a 500, as Consul answers it)."""
    if not request.has(name):
        return None
    raw = request.param(name) or ""
    if not raw.isdigit() or not raw.isascii():
        raise ConsulError(500, f'strconv.ParseUint: parsing "{raw}": invalid syntax')
    if int(raw) >= 2**64:
        raise ConsulError(500, f'strconv.ParseUint: parsing "{raw}": value out of range')
    return int(raw)
