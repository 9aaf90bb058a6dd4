"""The traffic monitor's web page: a small HTTP/1.1 server (h11 on asyncio streams) that serves
the page and a JSON API over the exchanges of a TrafficStore.

    GET /                    the page (its script and style at /page.js and /page.css)
    GET /api/exchanges       summaries, newest first: {"exchanges", "last", "services"}
        ?service=A&service=B   only these services (all when none)
        &status=5xx|404|error  a status class, an exact status, or no response at all
        &path=/orders          the request target contains this
        &after=N               only exchanges numbered above N (a follower passes `last`)
        &n=N                   at most the N newest (default 200, at most 1000)
        &wait=S                when none matches, wait up to S seconds (at most 25) for one
    GET /api/exchanges/ID    one exchange, headers and bodies

Bodies may hold secrets, so the page is for its developer's browser only: a request whose Host
is neither a loopback name or address nor the configured host is refused (403), which defeats
DNS rebinding; every answer forbids caching, framing, sniffing and referrers, and the page's
Content-Security-Policy allows its own origin only. There are no CORS headers.

A hostile client costs bounded resources, as in pilot.http.server: at most MAX_CONNECTIONS
connections (more are closed at once), a head of MAX_HEAD bytes and a body of MAX_BODY (a GET
needs none). A connection carries several requests; a long poll ends early when its client goes
away."""

from __future__ import annotations

import importlib.resources
import ipaddress
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qs

from pilot.http.limits import Limits
from pilot.http.messages import HTTPError, Request, Response, text_error
from pilot.http.server import Server
from pilot.log import Log
from pilot.traffic.store import Exchange, TrafficStore

MAX_CONNECTIONS = 32  # a few tabs, each with a long poll and a fetch or two
MAX_HEAD = 16 << 10  # request line and headers, as bytes on the wire
MAX_BODY = 16 << 10  # a GET needs none; what comes is read and dropped
LIMITS = Limits(max_head=MAX_HEAD, max_body=MAX_BODY, max_connections=MAX_CONNECTIONS)
LONGEST_WAIT = 25.0  # seconds a long poll may be held
DEFAULT_COUNT = 200
MOST = 1000

ASSETS = {  # path → (file beside this module, content type)
    "/": ("page.html", "text/html; charset=utf-8"),
    "/page.js": ("page.js", "text/javascript; charset=utf-8"),
    "/page.css": ("page.css", "text/css; charset=utf-8"),
}
SECURITY_HEADERS = [
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    (
        "Content-Security-Policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
]
STATUS_FILTER = re.compile(r"[1-5]xx|[1-5][0-9][0-9]|error", re.ASCII)
_N = TypeVar("_N", int, float)


def _json(value: Any) -> Response:
    return Response(200, json.dumps(value, separators=(",", ":")).encode(), "application/json")


class MonitorPage:
    """Serves the page for `store` on `host:port` (port 0: any free port)."""

    def __init__(self, host: str, port: int, store: TrafficStore, log: Log) -> None:
        self.host, self.port, self._store = host, port, store
        self._assets: dict[str, Response] = {}
        self._server = Server(
            self._route,
            "traffic monitor",
            LIMITS,
            log,
            keep_alive=True,
            error_answer=text_error,
            headers=SECURITY_HEADERS,
        )

    @property
    def address(self) -> str:
        """`host:port` as bound (the first socket's, `[v6]:port` for IPv6)."""
        assert self._server.addresses, "not started"
        host, port = self._server.addresses[0]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    async def start(self) -> None:
        """Listen on host:port; raises OSError when it cannot."""
        files = importlib.resources.files(__package__)
        self._assets = {
            path: Response(200, files.joinpath(name).read_bytes(), content_type)
            for path, (name, content_type) in ASSETS.items()
        }
        await self._server.listen_tcp(self.host, self.port)

    async def close(self) -> None:
        """Stop listening and end every open connection, long polls included."""
        await self._server.close()

    async def _route(self, request: Request) -> Response:
        host = request.header("host")
        if not _host_allowed(host, self.host):
            raise HTTPError(
                403,
                f"Host {host!r} refused: the traffic monitor answers to its own address only "
                f"(localhost, a loopback address, or {self.host!r}), against DNS rebinding",
            )
        if request.method != "GET":
            raise HTTPError(405, f"method {request.method} not allowed: only GET", allow="GET")
        if request.path in self._assets:
            return self._assets[request.path]
        if request.path == "/api/exchanges":
            return await self._list(parse_qs(request.query, keep_blank_values=True), request)
        prefix, _, number = request.path.rpartition("/")
        if prefix == "/api/exchanges" and number.isascii() and number.isdigit():
            exchange = self._store.get(int(number))
            if exchange is not None:
                return _json(exchange.to_json())
            raise HTTPError(404, f"no exchange {number} (never recorded, or no longer kept)")
        raise HTTPError(404, f"nothing at {request.path}")

    async def _list(self, query: dict[str, list[str]], request: Request) -> Response:
        """Summaries matching `query`, newest first; when none and `wait` is given, waits for
        one (or for `wait` to pass, or the client to leave)."""
        chosen = _Choice.parse(query)
        after = _number(query, "after", 0, int)
        count = min(_number(query, "n", DEFAULT_COUNT, int), MOST)
        if count < 1:
            raise HTTPError(400, "n must be at least 1")
        wait = min(_number(query, "wait", 0.0, float), LONGEST_WAIT)
        store = self._store
        if after > store.feed.last:  # a new store (pilot restarted): the follower starts over
            wait = 0.0

        def matching(above: int) -> list[Exchange]:
            return [e for e in store.select(chosen.services, above) if chosen.matches(e)]

        found, last = await request.unless_gone(store.feed.poll(matching, after, wait))
        return _json(
            {
                "exchanges": [exchange.summary() for exchange in reversed(found[-count:])],
                "last": last,
                "services": store.services(),
            }
        )


@dataclass(frozen=True)
class _Choice:
    """The filters of a listing."""

    services: tuple[str, ...]
    status: str  # "", a class such as "5xx", an exact status such as "404", or "error"
    path: str

    @classmethod
    def parse(cls, query: dict[str, list[str]]) -> _Choice:
        status = query.get("status", [""])[-1].strip().lower()
        if status and not STATUS_FILTER.fullmatch(status):
            raise HTTPError(400, f"status {status!r}: give 2xx, 404, error, or nothing")
        services = tuple(name for name in query.get("service", []) if name)
        return cls(services, status, query.get("path", [""])[-1])

    def matches(self, exchange: Exchange) -> bool:
        if self.path and self.path not in exchange.url:
            return False
        if not self.status:
            return True
        if exchange.status is None:
            return self.status == "error"
        if self.status.endswith("xx"):
            return str(exchange.status)[0] == self.status[0]
        return str(exchange.status) == self.status


def _host_allowed(host: str, bound: str) -> bool:
    """Whether a request for `host` (a Host header) may be answered by a page bound to
    `bound`: a loopback name or address, or the bound host itself; any address literal when
    bound to all addresses (DNS rebinding needs a name)."""
    name = host.lower()
    if name.startswith("["):
        name = name[1 : name.find("]")]
    elif name.count(":") == 1:
        name = name.partition(":")[0]
    name = name.rstrip(".")
    if not name:
        return False
    if name in ("localhost", bound.lower().strip("[]")):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    return address.is_loopback or _unspecified(bound)


def _unspecified(host: str) -> bool:
    """Whether `host` means every address of the machine."""
    try:
        return not host or ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return False


def _number(query: dict[str, list[str]], name: str, default: _N, kind: Callable[[str], _N]) -> _N:
    """Query parameter `name` as a finite, non-negative `kind` (int or float)."""
    if name not in query:
        return default
    text = query[name][-1]
    try:
        value = kind(text)
    except ValueError:
        raise HTTPError(400, f"{name} {text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise HTTPError(400, f"{name} must be a finite number, 0 or more")
    return value
