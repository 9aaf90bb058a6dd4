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

A hostile client costs bounded resources, as in pilot.interface.http: at most MAX_CONNECTIONS
connections (more are closed at once); each request within DEADLINE of the previous one, with
a head under twice MAX_HEAD bytes (h11 refuses an incomplete head over MAX_HEAD, and a read is at
most MAX_HEAD; else 431) and a body of at most MAX_BODY (else 413); each answer taken within
DEADLINE. A long poll ends early when its client goes away."""

from __future__ import annotations

import asyncio
import contextlib
import http
import importlib.resources
import ipaddress
import json
import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import h11

from pilot.interface.http import Refusals
from pilot.log import Log
from pilot.traffic.store import Exchange, TrafficStore

MAX_CONNECTIONS = 32  # a few tabs, each with a long poll and a fetch or two
MAX_HEAD = 16 << 10  # request line and headers, as bytes on the wire
MAX_BODY = 16 << 10  # a GET needs none; what comes is read and dropped
DEADLINE = 10.0  # seconds to read a request (idle time before it included), and to write an answer
LINGER = 1.0  # seconds to discard the rest of a request answered before it was read
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


@dataclass
class _Answer:
    status: int
    body: bytes
    content_type: str


class _Refusal(Exception):
    """An error answer, as text."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _text(status: int, message: str) -> _Answer:
    return _Answer(status, f"{message}\n".encode(), "text/plain; charset=utf-8")


def _json(value: Any) -> _Answer:
    return _Answer(200, json.dumps(value, separators=(",", ":")).encode(), "application/json")


class MonitorPage:
    """Serves the page for `store` on `host:port` (port 0: any free port)."""

    def __init__(self, host: str, port: int, store: TrafficStore, log: Log) -> None:
        self.host, self.port, self._store, self._log = host, port, store, log
        self._server: asyncio.Server | None = None
        self._assets: dict[str, _Answer] = {}
        self._connections: set[asyncio.Task[None]] = set()
        self._refusals = Refusals("traffic monitor", MAX_CONNECTIONS, log)

    @property
    def address(self) -> str:
        """`host:port` as bound (the first socket's, `[v6]:port` for IPv6)."""
        assert self._server is not None and self._server.sockets, "not started"
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    async def start(self) -> None:
        """Listen on host:port; raises OSError when it cannot."""
        files = importlib.resources.files(__package__)
        self._assets = {
            path: _Answer(200, files.joinpath(name).read_bytes(), content_type)
            for path, (name, content_type) in ASSETS.items()
        }
        self._server = await asyncio.start_server(self._serve, self.host, self.port, limit=MAX_HEAD)

    async def close(self) -> None:
        """Stop listening and end every open connection, long polls included."""
        if self._server is None:
            return
        self._server.close()
        for task in self._connections:
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answer the requests of one connection, or close it at once when too many are open."""
        if len(self._connections) >= MAX_CONNECTIONS:
            writer.transport.abort()
            self._refusals.note()
            return
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        client = _Client(reader, writer)
        try:
            while await self._answer_one(client):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass  # the client went away, or was too slow
        except asyncio.CancelledError:  # by close(): end quietly (asyncio 3.11 would log it)
            pass
        except Exception as error:  # a bug of pilot's: one line, not asyncio's traceback
            self._log.error(f"traffic monitor: {client.peer}: {_one_line(error)}")
        finally:
            self._connections.discard(task)
            writer.transport.abort()  # nothing left to do after a clean close

    async def _answer_one(self, client: _Client) -> bool:
        """Read and answer one request; whether the connection may carry another."""
        try:
            async with asyncio.timeout(DEADLINE):
                request = await client.read_request()
        except _Refusal as refusal:  # answered before the request was read to its end
            await client.send(self._refused_answer(refusal, client))
            await client.linger()
            return False
        if request is None:
            return False
        await client.send(await self._answer(request, client))
        return client.next_cycle()

    async def _answer(self, request: h11.Request, client: _Client) -> _Answer:
        try:
            return await self._route(request, client)
        except _Refusal as refusal:
            return self._refused_answer(refusal, client)
        except ConnectionError:
            raise
        except Exception as error:  # a bug of pilot's: one line, and a 500
            self._log.error(f"traffic monitor: {client.peer}: {_one_line(error)}")
            return _text(500, "internal error (see pilot's log)")

    def _refused_answer(self, refusal: _Refusal, client: _Client) -> _Answer:
        self._log.debug(f"traffic monitor: {client.peer}: {refusal.status} {refusal.message}")
        return _text(refusal.status, refusal.message)

    async def _route(self, request: h11.Request, client: _Client) -> _Answer:
        host = _header(request, b"host")
        if not _host_allowed(host, self.host):
            raise _Refusal(
                403,
                f"Host {host!r} refused: the traffic monitor answers to its own address only "
                f"(localhost, a loopback address, or {self.host!r}), against DNS rebinding",
            )
        method = request.method.decode("ascii")
        target = request.target.decode("ascii", "replace")
        if method != "GET":
            raise _Refusal(405, f"method {method} not allowed: only GET")
        parts = urlsplit(target)
        if parts.path in self._assets:
            return self._assets[parts.path]
        if parts.path == "/api/exchanges":
            return await self._list(parse_qs(parts.query, keep_blank_values=True), client)
        prefix, _, number = parts.path.rpartition("/")
        if prefix == "/api/exchanges" and number.isascii() and number.isdigit():
            exchange = self._store.get(int(number))
            if exchange is not None:
                return _json(exchange.to_json())
            raise _Refusal(404, f"no exchange {number} (never recorded, or no longer kept)")
        raise _Refusal(404, f"nothing at {parts.path}")

    async def _list(self, query: dict[str, list[str]], client: _Client) -> _Answer:
        """Summaries matching `query`, newest first; when none and `wait` is given, waits for
        one (or for `wait` to pass, or the client to leave)."""
        chosen = _Choice.parse(query)
        after = _number(query, "after", 0, int)
        count = min(_number(query, "n", DEFAULT_COUNT, int), MOST)
        if count < 1:
            raise _Refusal(400, "n must be at least 1")
        wait = min(_number(query, "wait", 0.0, float), LONGEST_WAIT)
        store = self._store
        if after > store.last_id:  # a new store (pilot restarted): the follower starts over
            wait = 0.0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            last = store.last_id
            found = [e for e in store.select(chosen.services, after) if chosen.matches(e)]
            remaining = deadline - loop.time()
            if found or remaining <= 0:
                break
            await client.unless_gone(store.wait(last, remaining))
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
            raise _Refusal(400, f"status {status!r}: give 2xx, 404, error, or nothing")
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


class _Client:
    """One connection: h11's state of it, and its streams."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
        self.head = False  # the request is a HEAD: its answer has no body
        address = writer.get_extra_info("peername")
        self.peer = f"{address[0]}:{address[1]}" if isinstance(address, tuple) else "client"

    async def read_request(self) -> h11.Request | None:
        """The next request, its body read and dropped; None when the client closed first."""
        request: h11.Request | None = None
        size = 0
        while True:
            try:
                event = self.conn.next_event()
            except h11.RemoteProtocolError as error:
                raise _Refusal(error.error_status_hint, str(error)) from None
            if event is h11.NEED_DATA:
                self.conn.receive_data(await self.reader.read(MAX_HEAD))
            elif isinstance(event, h11.Request):
                request = event
                self.head = event.method == b"HEAD"
            elif isinstance(event, h11.Data):
                size += len(event.data)
                if size > MAX_BODY:
                    raise _Refusal(413, f"request body over {MAX_BODY} bytes")
            elif isinstance(event, h11.EndOfMessage):
                return request
            else:  # ConnectionClosed, or PAUSED after a request answered without keep-alive
                return None

    async def send(self, answer: _Answer) -> None:
        """Write `answer` within DEADLINE."""
        status = http.HTTPStatus(answer.status)
        headers = [
            ("Content-Type", answer.content_type),
            ("Content-Length", str(len(answer.body))),
            *SECURITY_HEADERS,
        ]
        if answer.status == 405:
            headers.append(("Allow", "GET"))
        data = self.conn.send(
            h11.Response(status_code=status, headers=headers, reason=status.phrase)
        )
        if not self.head:
            data += self.conn.send(h11.Data(data=answer.body))
        data += self.conn.send(h11.EndOfMessage())
        async with asyncio.timeout(DEADLINE):
            self.writer.write(data)
            await self.writer.drain()

    def next_cycle(self) -> bool:
        """Ready the connection for another request; False when it must close."""
        if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
            self.conn.start_next_cycle()
            return True
        return False

    async def linger(self) -> None:
        """End the answer, then discard what the client still sends, for at most LINGER:
        closing with data unread resets a TCP connection, and the client could lose the answer."""
        self.writer.write_eof()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(LINGER):
                while await self.reader.read(MAX_HEAD):
                    pass

    async def unless_gone(self, work: Awaitable[None]) -> None:
        """Await `work`, but raise ConnectionError as soon as the client closes its end. Bytes
        that arrive meanwhile (a pipelined request) are kept for h11, and watching stops."""
        task = asyncio.ensure_future(work)
        watch = asyncio.ensure_future(self.reader.read(MAX_HEAD))
        try:
            done, _ = await asyncio.wait({task, watch}, return_when=asyncio.FIRST_COMPLETED)
            if watch in done:
                data = watch.result()
                if not data:
                    raise ConnectionError("the client went away")
                self.conn.receive_data(data)
            await task
        finally:
            task.cancel()
            watch.cancel()


def _header(request: h11.Request, name: bytes) -> str:
    for key, value in request.headers:
        if key == name:
            return str(value.decode("latin-1"))
    return ""


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
        raise _Refusal(400, f"{name} {text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise _Refusal(400, f"{name} must be a finite number, 0 or more")
    return value


def _one_line(error: BaseException) -> str:
    return " ".join(f"{type(error).__name__}: {error}".split())
