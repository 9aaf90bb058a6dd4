"""The traffic monitor's web server: its JSON API over a store filled here, the long poll, and
what it refuses (other hosts, other methods, oversized requests, too many connections)."""

from __future__ import annotations

import asyncio
import http
import http.client
import io
import json
import socket
import threading
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from typing import Any

import pytest

from pilot.log import Log
from pilot.traffic import web
from pilot.traffic.store import Body, Exchange, TrafficStore
from tests.helpers import holds, scaled, wait_for


class RunningPage:
    """A MonitorPage with its store, served by an event loop in a thread of its own."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.store = TrafficStore()
        self.log = io.StringIO()
        self.page = web.MonitorPage(host, 0, self.store, Log("debug", stderr=self.log))
        self.call(self.page.start())
        self.port = int(self.page.address.rpartition(":")[2])
        self.address = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.address}"

    def call(self, work: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(scaled(10))

    def add(self, *exchanges: Exchange) -> list[int]:
        """Add `exchanges` to the store (in its loop); their ids."""

        async def add() -> list[int]:
            for exchange in exchanges:
                self.store.add(exchange)
            return [exchange.id for exchange in exchanges]

        return list(self.call(add()))

    def close(self) -> None:
        self.call(self.page.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(scaled(10))
        self.loop.close()


def exchange(
    service: str = "api",
    url: str = "/orders",
    status: int | None = 200,
    *,
    method: str = "GET",
    body: bytes = b"",
    content_type: str = "application/json",
    request_headers: list[tuple[str, str]] | None = None,
    client_service: str | None = None,
    body_limit: int = 64 << 10,
) -> Exchange:
    """An exchange as the proxy records one."""
    response_body = Body(body_limit)
    response_body.add(body)
    return Exchange(
        service=service,
        started=time.time(),
        client="127.0.0.1:50000",
        method=method,
        url=url,
        http_version="1.1",
        request_headers=request_headers or [("host", "api.local"), ("accept", "*/*")],
        request_body=Body(body_limit),
        client_service=client_service,
        status=status,
        reason="" if status is None else http.HTTPStatus(status).phrase,
        response_headers=[]
        if status is None
        else [("content-type", content_type), ("content-length", str(len(body)))],
        response_body=response_body,
        duration=None if status is None else 0.0123,
        error="connection refused" if status is None else None,
    )


@pytest.fixture
def running() -> Iterator[RunningPage]:
    instance = RunningPage()
    yield instance
    instance.close()


def get(
    running: RunningPage, target: str, host: str | None = None, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    """One request; (status, headers with lower-case names, body)."""
    connection = http.client.HTTPConnection(running.address, timeout=scaled(30))
    try:
        connection.request(method, target, headers={"Host": host or running.address})
        response = connection.getresponse()
        headers = {name.lower(): value for name, value in response.getheaders()}
        return response.status, headers, response.read()
    finally:
        connection.close()


def listing(running: RunningPage, query: str = "") -> dict[str, Any]:
    status, _, body = get(running, f"/api/exchanges{query}")
    assert status == 200, body
    return dict(json.loads(body))


def ids(answer: dict[str, Any]) -> list[int]:
    return [summary["id"] for summary in answer["exchanges"]]


def test_a_port_in_use_raises_oserror(running: RunningPage) -> None:
    other = web.MonitorPage("127.0.0.1", running.port, TrafficStore(), Log())
    with pytest.raises(OSError):
        running.call(other.start())


def test_page_and_its_files_are_served_with_the_security_headers(running: RunningPage) -> None:
    """The page, its script and its style, each with its content type; every answer (an error
    too) forbids caching, sniffing, framing and referrers, allows this origin only, no CORS."""
    status, headers, body = get(running, "/")
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
    assert b'<script src="/page.js"' in body and b'href="/page.css"' in body
    for path, kind in (("/page.js", "text/javascript"), ("/page.css", "text/css")):
        status, headers, _ = get(running, path)
        assert status == 200 and headers["content-type"].startswith(kind)
    for path in ("/", "/api/exchanges", "/nothing"):
        _, headers, _ = get(running, path)
        assert headers["cache-control"] == "no-store"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        policy = headers["content-security-policy"]
        assert "default-src 'none'" in policy and "script-src 'self'" in policy
        assert "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
        assert not [name for name in headers if name.startswith("access-control-")]


def test_listing_is_newest_first_and_filtered(running: RunningPage) -> None:
    """Summaries newest first, with `last` and the services; filtered by service (several),
    status class, exact status or no response, path substring, `after` and `n`."""
    assert listing(running) == {"exchanges": [], "last": 0, "services": []}
    running.add(
        exchange("api", "/orders/1", 200),
        exchange("web", "/", 304),
        exchange("api", "/orders/2", 503),
        exchange("db", "/query", None),
        exchange("web", "/orders", 404, client_service="api"),
    )
    everything = listing(running)
    assert ids(everything) == [5, 4, 3, 2, 1]
    assert everything["last"] == 5 and everything["services"] == ["api", "db", "web"]
    newest = everything["exchanges"][0]
    assert newest["service"] == "web" and newest["client_service"] == "api"
    assert newest["status"] == 404 and "request_headers" not in newest
    assert ids(listing(running, "?service=api")) == [3, 1]
    assert ids(listing(running, "?service=api&service=db")) == [4, 3, 1]
    assert ids(listing(running, "?status=5xx")) == [3]
    assert ids(listing(running, "?status=304")) == [2]
    assert ids(listing(running, "?status=error")) == [4]
    assert ids(listing(running, "?path=/orders")) == [5, 3, 1]
    assert ids(listing(running, "?path=/orders&status=2xx")) == [1]
    assert ids(listing(running, "?after=3")) == [5, 4]
    assert ids(listing(running, "?n=2")) == [5, 4]
    assert listing(running, "?service=nobody")["exchanges"] == []


def test_one_exchange_in_full_or_404(running: RunningPage) -> None:
    (number,) = running.add(
        exchange(
            body=b'{"id": 1}',
            request_headers=[("host", "api"), ("authorization", "[masked]")],
        )
    )
    status, headers, body = get(running, f"/api/exchanges/{number}")
    assert status == 200 and headers["content-type"] == "application/json"
    full = json.loads(body)
    assert full == json.loads(json.dumps(running.store.get(number).to_json()))  # type: ignore[union-attr]
    assert full["request"]["headers"] == [["host", "api"], ["authorization", "[masked]"]]
    assert full["response"]["body"] == {"size": 9, "truncated": False, "text": '{"id": 1}'}
    for missing in (f"/api/exchanges/{number + 1}", "/api/exchanges/x", "/api/exchanges/"):
        status, headers, body = get(running, missing)
        assert status == 404 and headers["content-type"].startswith("text/plain"), missing


def test_long_poll_waits_for_a_matching_exchange(running: RunningPage) -> None:
    """`wait` holds the answer until an exchange that matches is added (one that does not
    match keeps it waiting), and returns it at once then."""
    (first,) = running.add(exchange("api"))
    answer: Future[dict[str, Any]] = Future()
    threading.Thread(
        target=lambda: answer.set_result(listing(running, f"?service=api&after={first}&wait=25")),
        daemon=True,
    ).start()
    holds(lambda: not answer.done(), 0.5, message="the poll waits while nothing is new")
    running.add(exchange("web"))
    holds(lambda: not answer.done(), 0.3, message="the poll waits while nothing matches")
    started = time.monotonic()
    (matching,) = running.add(exchange("api", "/new"))
    result = answer.result(scaled(5))
    assert time.monotonic() - started < scaled(2)
    assert ids(result) == [matching] and result["last"] == matching


def test_long_poll_ends_after_its_wait_with_nothing(running: RunningPage) -> None:
    running.add(exchange())
    started = time.monotonic()
    assert listing(running, "?after=1&wait=0.3") == {
        "exchanges": [],
        "last": 1,
        "services": ["api"],
    }
    assert 0.3 <= time.monotonic() - started < scaled(5)


def test_a_follower_of_an_older_store_is_answered_at_once(running: RunningPage) -> None:
    """A page left open across a restart of pilot asks for exchanges after an id the new store
    has not reached: it is answered at once, and sees from `last` that it must start over."""
    running.add(exchange())
    started = time.monotonic()
    assert listing(running, "?after=500&wait=25")["last"] == 1
    assert time.monotonic() - started < scaled(5)


def test_closing_the_page_ends_its_long_polls(running: RunningPage) -> None:
    sock = socket.create_connection(
        (running.address.split(":")[0], running.port), timeout=scaled(10)
    )
    with sock:
        sock.sendall(_request("/api/exchanges?after=0&wait=25"))
        holds(lambda: not _readable(sock), 0.3, message="the poll is held")
        started = time.monotonic()
        running.call(running.page.close())
        assert sock.recv(1024) == b"" and time.monotonic() - started < scaled(5)


def test_host_header_other_than_loopback_or_the_bound_host_is_refused(
    running: RunningPage,
) -> None:
    """Against DNS rebinding: a name that is neither localhost nor the configured host is
    answered 403 with a text that says why; loopback names and addresses are served."""
    status, headers, body = get(running, "/api/exchanges", host="evil.example")
    assert status == 403 and headers["content-type"].startswith("text/plain")
    assert b"evil.example" in body and b"DNS rebinding" in body
    status, _, _ = get(running, "/", host=f"evil.example:{running.port}")
    assert status == 403
    for host in (f"localhost:{running.port}", "127.0.0.1", f"[::1]:{running.port}", "LOCALHOST"):
        status, _, _ = get(running, "/", host=host)
        assert status == 200, host
    sock = socket.create_connection(("127.0.0.1", running.port), timeout=scaled(10))
    with sock:  # HTTP/1.0 without a Host header
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        assert _read_all(sock).startswith(b"HTTP/1.1 403 ")


@pytest.mark.parametrize(
    ("bound", "host", "allowed"),
    [
        ("127.0.0.1", "127.0.0.2:4040", True),
        ("127.0.0.1", "10.0.0.5:4040", False),
        ("10.0.0.5", "10.0.0.5:4040", True),
        ("devbox.lan", "DEVBOX.lan:4040", True),
        ("devbox.lan", "other.lan", False),
        ("0.0.0.0", "192.0.2.7:4040", True),
        ("0.0.0.0", "rebound.example:4040", False),
        ("::", "[2001:db8::1]:4040", True),
        ("[::]", "192.0.2.7", True),
        ("127.0.0.1", "localhost.", True),
        ("127.0.0.1", "", False),
    ],
)
def test_hosts_a_page_answers_to(bound: str, host: str, allowed: bool) -> None:
    """A deliberately non-loopback page answers to its own host too; one bound to all
    addresses to any address literal (DNS rebinding needs a name)."""
    assert web._host_allowed(host, bound) is allowed


def test_methods_other_than_get_are_refused(running: RunningPage) -> None:
    for method in ("POST", "PUT", "DELETE", "HEAD", "OPTIONS"):
        status, headers, _ = get(running, "/api/exchanges", method=method)
        assert status == 405 and headers["allow"] == "GET", method


def test_bad_parameters_are_answered_400(running: RunningPage) -> None:
    for query in ("status=oops", "status=600", "n=0", "after=-1", "after=x", "wait=nan"):
        status, _, body = get(running, f"/api/exchanges?{query}")
        assert status == 400 and body.strip(), query


def test_oversized_requests_are_refused(running: RunningPage) -> None:
    sock = socket.create_connection(("127.0.0.1", running.port), timeout=scaled(10))
    with sock:
        sock.sendall(_request("/", extra=f"X-Big: {'a' * 2 * web.MAX_HEAD}\r\n"))
        assert _read_all(sock).startswith(b"HTTP/1.1 431 ")
    sock = socket.create_connection(("127.0.0.1", running.port), timeout=scaled(10))
    with sock:
        size = web.MAX_BODY + 1
        sock.sendall(_request("/", extra=f"Content-Length: {size}\r\n") + b"x" * size)
        assert _read_all(sock).startswith(b"HTTP/1.1 413 ")


def test_one_connection_carries_several_requests(running: RunningPage) -> None:
    running.add(exchange())
    connection = http.client.HTTPConnection(running.address, timeout=scaled(10))
    try:
        for path in ("/", "/api/exchanges", "/api/exchanges/1", "/nothing", "/page.js"):
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            assert response.status in (200, 404)
        assert connection.sock is not None  # never closed by the server on the way
    finally:
        connection.close()


def test_connections_over_the_cap_are_closed_and_left_polls_free_their_place(
    running: RunningPage,
) -> None:
    """MAX_CONNECTIONS long polls take every place: one more connection is closed unanswered.
    Polls whose clients leave free their places at once, not when their wait ends."""
    polls = [
        socket.create_connection(("127.0.0.1", running.port), timeout=scaled(10))
        for _ in range(web.MAX_CONNECTIONS)
    ]
    for sock in polls:
        sock.sendall(_request("/api/exchanges?after=0&wait=25"))
    extra = socket.create_connection(("127.0.0.1", running.port), timeout=scaled(10))
    with extra:
        extra.sendall(_request("/"))
        assert _read_all(extra) == b""
    assert "connections open, new ones are closed" in running.log.getvalue()
    for sock in polls:
        sock.close()
    wait_for(lambda: _served(running), 5, message="a place freed by the polls that left")


def _served(running: RunningPage) -> bool:
    try:
        return get(running, "/")[0] == 200
    except (ConnectionError, http.client.RemoteDisconnected):
        return False


def _request(target: str, extra: str = "") -> bytes:
    return f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode()


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def _readable(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return bool(sock.recv(1, socket.MSG_PEEK))
    except BlockingIOError:
        return False
    finally:
        sock.setblocking(True)
