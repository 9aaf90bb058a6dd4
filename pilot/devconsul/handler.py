"""HTTP plumbing of the registry: routing, Consul's error texts and headers, strict
case-insensitive JSON decoding, and blocking-query parameters."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from pilot.config.durations import parse_duration
from pilot.devconsul.state import State

DEFAULT_WAIT = 300.0
MAX_WAIT = 600.0


class ConsulError(Exception):
    """An answer with Consul's status code and plain-text body."""

    def __init__(self, status: int, text: str, allow: str | None = None) -> None:
        super().__init__(text)
        self.status, self.text, self.allow = status, text, allow


@dataclass
class Call:
    """One request as the routes see it."""

    method: str
    path: str
    params: dict[str, list[str]]
    body: bytes
    state: State

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.params.get(name)
        return values[-1] if values else default

    def flag(self, name: str) -> bool:
        """A query boolean as Go's ParseBool reads it; a bare key is true."""
        if name not in self.params:
            return False
        value = self.params[name][-1]
        if value == "":
            return True
        if value in ("1", "t", "T", "TRUE", "true", "True"):
            return True
        if value in ("0", "f", "F", "FALSE", "false", "False"):
            return False
        raise ConsulError(400, f"Invalid value for ?{name}")

    def json(self, fields: dict[str, str], required: bool = True) -> dict[str, Any]:
        """Decode the body strictly: known fields only, matched case-insensitively."""
        if not self.body:
            if required:
                raise ConsulError(400, "Request decode failed: EOF")
            return {}
        try:
            raw = json.loads(self.body)
        except ValueError as error:
            raise ConsulError(400, f"Request decode failed: invalid character: {error}") from None
        if not isinstance(raw, dict):
            raise ConsulError(
                400,
                "Request decode failed: json: cannot unmarshal array into Go value of type struct",
            )
        return canonical(raw, fields)

    def blocking(self) -> tuple[int, float]:
        """(index, wait in seconds with Consul's jitter); index 0 means do not block."""
        raw_index = self.param("index")
        index = 0
        if raw_index is not None:
            if not raw_index.isdigit():
                raise ConsulError(400, "Invalid index")
            index = int(raw_index)
        wait = DEFAULT_WAIT
        raw_wait = self.param("wait")
        if raw_wait:
            if re.fullmatch(r"\d+", raw_wait):
                raise ConsulError(400, "Invalid wait time")
            try:
                wait = parse_duration(raw_wait)
            except ValueError:
                raise ConsulError(400, "Invalid wait time") from None
            wait = DEFAULT_WAIT if wait <= 0 else min(wait, MAX_WAIT)
        return index, wait + random.uniform(0, wait / 16)


def canonical(raw: dict[str, Any], fields: dict[str, str]) -> dict[str, Any]:
    """Rename keys to their canonical spelling; `fields` maps folded names to canonical ones.

    Raises:
        ConsulError(400): an unknown field, with Go's decoder message.
    """
    out = {}
    for key, value in raw.items():
        name = fields.get(key.lower().replace("_", ""))
        if name is None:
            raise ConsulError(400, f'Request decode failed: json: unknown field "{key}"')
        out[name] = value
    return out


def folded(*names: str) -> dict[str, str]:
    return {name.lower().replace("_", ""): name for name in names}


@dataclass
class Answer:
    status: int = 200
    body: Any = None  # JSON-serialisable, or bytes for raw answers
    index: int | None = None


Route = Callable[[Call], Answer]


class Router:
    """Maps (path prefix, methods) to routes; a wrong method is 405 with Allow."""

    def __init__(self) -> None:
        self.routes: list[tuple[str, bool, tuple[str, ...], Route]] = []

    def add(self, path: str, methods: tuple[str, ...], route: Route, prefix: bool = False) -> None:
        self.routes.append((path, prefix, methods, route))

    def find(self, method: str, path: str) -> tuple[Route, str]:
        for route_path, prefix, methods, route in self.routes:
            if path == route_path or (prefix and path.startswith(route_path)):
                if method not in methods:
                    raise ConsulError(
                        405, f"method {method} not allowed", allow=",".join(("OPTIONS", *methods))
                    )
                return route, path[len(route_path) :] if prefix else ""
        raise ConsulError(404, "Invalid URL path: not a recognized HTTP API endpoint")


def make_handler(
    state: State, router: Router, log: Callable[[str], None]
) -> type[BaseHTTPRequestHandler]:
    """The request handler class of a registry serving `state`."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            call = Call(self.command, unquote(parts.path), parse_qs(parts.query, True), body, state)
            try:
                route, rest = router.find(self.command, call.path)
                call.path = rest
                answer = route(call)
            except ConsulError as error:
                self._send(
                    error.status,
                    (error.text + "\n").encode(),
                    None,
                    "text/plain; charset=utf-8",
                    error.allow,
                )

                return
            if isinstance(answer.body, bytes):
                payload, kind = answer.body, "text/plain; charset=utf-8"
            elif answer.body is None:
                payload, kind = b"", "text/plain; charset=utf-8"
            else:
                payload, kind = json.dumps(answer.body).encode(), "application/json"
            self._send(answer.status, payload, answer.index, kind, None)

        def _send(
            self, status: int, payload: bytes, index: int | None, kind: str, allow: str | None
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("X-Consul-Default-Acl-Policy", "allow")
            if index is not None:
                self.send_header("X-Consul-Index", str(max(index, 1)))
                self.send_header("X-Consul-Knownleader", "true")
                self.send_header("X-Consul-Lastcontact", "0")
            if allow:
                self.send_header("Allow", allow)
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_PUT = do_POST = do_DELETE = _serve

        def do_OPTIONS(self) -> None:
            self._send(200, b"", None, "text/plain", None)

        def log_message(self, format: str, *args: Any) -> None:
            log(format % args)

    return Handler
