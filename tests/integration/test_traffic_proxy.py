"""The traffic monitor's recording proxy, in front of a real HTTP server: what passes through
and what is recorded (keep-alive, chunked bodies, the body limit, masked credentials,
WebSocket upgrades, a service that is down or breaks off), and who made a connection."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import hashlib
import http.client
import http.server
import io
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest

from pilot.log import Log
from pilot.traffic import limits, peers
from pilot.traffic.peers import socket_owner
from pilot.traffic.proxy import RecordingProxy
from pilot.traffic.store import MASKED, Exchange, TrafficStore
from tests.helpers import REPO, scaled, wait_for

T = TypeVar("T")
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SERVER_HELLO = b"\x81\x05hello"  # an unmasked WebSocket text frame, sent right after the 101


@dataclass
class Seen:
    """A request as the upstream received it."""

    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes
    connection: int


@dataclass
class Upstream:
    """A threaded HTTP/1.1 server that tells what it received."""

    server: http.server.ThreadingHTTPServer
    seen: list[Seen] = field(default_factory=list)
    connections: int = 0
    closed: threading.Event = field(default_factory=threading.Event)  # a WebSocket ended
    hung_up: threading.Event = field(default_factory=threading.Event)  # /bye closed its socket
    release: threading.Event = field(default_factory=threading.Event)  # /stream may end

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream: Upstream

    def setup(self) -> None:
        super().setup()
        self.upstream.connections += 1
        self.connection_number = self.upstream.connections

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while size := int(self.rfile.readline().split(b";")[0], 16):
                body += self.rfile.read(size)
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b""):
                pass  # trailers
            return body
        return self.rfile.read(int(self.headers.get("Content-Length", 0)))

    def _record(self) -> bytes:
        body = self._body()
        self.upstream.seen.append(
            Seen(self.command, self.path, list(self.headers.items()), body, self.connection_number)
        )
        return body

    def _answer(self, body: bytes, *headers: tuple[str, str]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._record()
        if self.path == "/ws":
            self._websocket()
        elif self.path == "/broken":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"0123456789")
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        elif self.path == "/stream":  # the first chunk, and the rest once the test says so
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"5\r\nfirst\r\n")
            self.wfile.flush()
            self.upstream.release.wait(scaled(10))
            self.wfile.write(b"4\r\nlast\r\n0\r\n\r\n")
        elif self.path == "/http10":  # an HTTP/1.0 answer, its body ended by closing
            self.wfile.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nold server")
            self.close_connection = True
        elif self.path.startswith("/reply-with?"):  # answers with the headers named
            names = self.path.split("?", 1)[1].split(",")
            self._answer(b"ok", *((name, f"{name.lower()}-s3cret") for name in names))
        elif self.path == "/bye":  # answers as if to keep the connection, then closes it
            self._answer(b"bye")
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            self.upstream.hung_up.set()
        else:
            self._answer(b"hello " + self.path.encode(), ("Set-Cookie", "session=s3cret"))

    def do_POST(self) -> None:
        body = self._record()
        if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
            self._answer(body[::-1])
            return
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        answer = body[::-1]
        for start in range(0, len(answer), 7000):
            piece = answer[start : start + 7000]
            self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")

    def _websocket(self) -> None:
        key = self.headers["Sec-WebSocket-Key"]
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.write(SERVER_HELLO)
        self.wfile.flush()
        while data := self.rfile.read1(65536):  # echo whatever arrives, as it is
            self.wfile.write(data)
            self.wfile.flush()
        self.upstream.closed.set()
        self.close_connection = True


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    up = Upstream(server)
    server.RequestHandlerClass = type("BoundHandler", (Handler,), {"upstream": up})
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield up
    server.shutdown()
    server.server_close()


class Running:
    """A RecordingProxy on a free loopback port, its event loop in a thread of its own."""

    def __init__(self, upstream_port: int, **options: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.store = TrafficStore()
        self.log_text = io.StringIO()
        log = Log("debug", stderr=self.log_text)
        self.proxy = RecordingProxy(
            "api", ("127.0.0.1", 0), ("127.0.0.1", upstream_port), self.store, log, **options
        )
        self.call(self.proxy.start())
        self.port = self.proxy.address[1]

    def call(self, work: Awaitable[T]) -> T:
        async def run() -> T:
            return await work

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(scaled(10))

    def exchanges(self, count: int) -> list[Exchange]:
        """The recorded exchanges, once there are `count`."""

        async def select() -> list[Exchange]:
            return self.store.select()

        return wait_for(  # type: ignore[no-any-return]
            lambda: (found := self.call(select())) and len(found) >= count and found,
            message=f"{count} recorded exchanges",
        )

    def close(self) -> None:
        self.call(self.proxy.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(scaled(5))
        self.loop.close()


@pytest.fixture
def proxy(upstream: Upstream, caplog: pytest.LogCaptureFixture) -> Iterator[Callable[..., Running]]:
    """Start proxies in front of `upstream` (or a given port); closed afterwards, and nothing
    may have gone wrong inside them."""
    started: list[Running] = []

    def start(upstream_port: int | None = None, **options: Any) -> Running:
        running = Running(upstream.port if upstream_port is None else upstream_port, **options)
        started.append(running)
        return running

    yield start
    for running in started:
        running.close()
        assert "error:" not in running.log_text.getvalue()
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def header(headers: list[tuple[str, str]], name: str) -> str | None:
    return next((value for key, value in headers if key.lower() == name.lower()), None)


def read_head(sock: socket.socket, already: bytes = b"") -> tuple[bytes, bytes]:
    """A response head read from `sock` (after `already`), and the bytes that came after it."""
    data = already
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed after {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def recv_exactly(sock: socket.socket, size: int, already: bytes = b"") -> bytes:
    data = already
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, f"closed after {data!r}"
        data += chunk
    return data


def test_a_get_is_recorded(proxy: Callable[..., Running], upstream: Upstream) -> None:
    running = proxy()
    conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=scaled(10))
    before = time.time()
    conn.request("GET", "/items?page=2", headers={"X-Trace": "abc"})
    response = conn.getresponse()
    assert (response.status, response.read()) == (200, b"hello /items?page=2")
    local = conn.sock.getsockname()
    conn.close()

    [exchange] = running.exchanges(1)
    assert exchange.service == "api"
    assert exchange.client == f"127.0.0.1:{local[1]}"
    assert exchange.client_service is None
    assert (exchange.method, exchange.url, exchange.http_version) == ("GET", "/items?page=2", "1.1")
    assert (exchange.status, exchange.reason) == (200, "OK")
    assert header(exchange.request_headers, "X-Trace") == "abc"
    assert header(exchange.response_headers, "Content-Type") == "text/plain"
    assert bytes(exchange.response_body.kept) == b"hello /items?page=2"
    assert exchange.duration is not None and 0 < exchange.duration < 5
    assert before <= exchange.started <= time.time()
    assert exchange.error is None and exchange.upgrade is None
    assert header(upstream.seen[0].headers, "X-Trace") == "abc"


def test_keep_alive_uses_one_upstream_connection(
    proxy: Callable[..., Running], upstream: Upstream
) -> None:
    running = proxy()
    conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=scaled(10))
    for path in ("/one", "/two"):
        conn.request("GET", path)
        assert conn.getresponse().read() == b"hello " + path.encode()
    local = conn.sock.getsockname()
    conn.request("POST", "/echo", body=b"abc")
    assert conn.getresponse().read() == b"cba"
    assert conn.sock.getsockname() == local  # one client connection throughout
    conn.close()

    exchanges = running.exchanges(3)
    assert [e.url for e in exchanges] == ["/one", "/two", "/echo"]
    assert [e.id for e in exchanges] == [1, 2, 3]
    assert {e.client for e in exchanges} == {f"127.0.0.1:{local[1]}"}
    assert upstream.connections == 1
    assert {seen.connection for seen in upstream.seen} == {1}


def test_a_connection_the_service_closed_is_reopened(
    proxy: Callable[..., Running], upstream: Upstream
) -> None:
    running = proxy()
    conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=scaled(10))
    conn.request("GET", "/bye")
    assert conn.getresponse().read() == b"bye"
    assert upstream.hung_up.wait(scaled(10))
    for path in ("/again", "/and-again"):
        conn.request("GET", path)
        assert conn.getresponse().read() == b"hello " + path.encode()
    conn.close()

    assert [e.status for e in running.exchanges(3)] == [200, 200, 200]
    assert [seen.connection for seen in upstream.seen] == [1, 2, 2]


def test_an_http_1_0_answer_reaches_an_http_1_1_client_chunked(
    proxy: Callable[..., Running], upstream: Upstream
) -> None:
    running = proxy()
    conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=scaled(10))
    conn.request("GET", "/http10")
    response = conn.getresponse()
    assert response.getheader("Transfer-Encoding") == "chunked"
    assert response.read() == b"old server"
    conn.request("GET", "/next")  # the client's connection goes on, the service's is new
    assert conn.getresponse().read() == b"hello /next"
    conn.close()
    assert [e.status for e in running.exchanges(2)] == [200, 200]
    assert [seen.connection for seen in upstream.seen] == [1, 2]


def test_chunked_bodies_pass_byte_exact(proxy: Callable[..., Running], upstream: Upstream) -> None:
    running = proxy()
    body = os.urandom(50_000)
    pieces = [body[i : i + 4096] for i in range(0, len(body), 4096)]
    conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=scaled(10))
    conn.request("POST", "/echo", body=iter(pieces), encode_chunked=True)
    response = conn.getresponse()
    assert response.getheader("Transfer-Encoding") == "chunked"
    assert response.read() == body[::-1]
    conn.close()

    seen = upstream.seen[0]
    assert header(seen.headers, "Transfer-Encoding") == "chunked"
    assert header(seen.headers, "Content-Length") is None
    assert seen.body == body
    [exchange] = running.exchanges(1)
    assert bytes(exchange.request_body.kept) == body
    assert exchange.request_body.size == len(body) and not exchange.request_body.truncated
    assert bytes(exchange.response_body.kept) == body[::-1]
    assert header(exchange.response_headers, "Transfer-Encoding") == "chunked"


def test_a_response_streams_through(proxy: Callable[..., Running], upstream: Upstream) -> None:
    running = proxy()
    conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=scaled(10))
    conn.request("GET", "/stream")
    response = conn.getresponse()
    assert response.read(5) == b"first"
    assert not upstream.release.is_set()  # the first chunk came while the rest was held back
    upstream.release.set()
    assert response.read() == b"last"
    conn.close()
    [exchange] = running.exchanges(1)
    assert bytes(exchange.response_body.kept) == b"firstlast"


def test_bodies_over_the_limit_are_cut(proxy: Callable[..., Running], upstream: Upstream) -> None:
    running = proxy(body_limit=1000)
    body = os.urandom(300_000)
    conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=scaled(10))
    conn.request("POST", "/echo", body=body)
    assert conn.getresponse().read() == body[::-1]
    conn.close()

    seen = upstream.seen[0]
    assert header(seen.headers, "Content-Length") == str(len(body))
    assert seen.body == body
    [exchange] = running.exchanges(1)
    for recorded, whole in ((exchange.request_body, body), (exchange.response_body, body[::-1])):
        assert bytes(recorded.kept) == whole[:1000]
        assert recorded.size == len(body)
        assert recorded.truncated
        assert recorded.to_json()["truncated"] is True


@pytest.mark.parametrize("unmasked", [frozenset(), frozenset({"cookie", "set-cookie"})])
def test_credentials_are_masked_in_the_record_only(
    proxy: Callable[..., Running], upstream: Upstream, unmasked: frozenset[str]
) -> None:
    running = proxy(unmasked=unmasked)
    conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=scaled(10))
    credentials = {"Authorization": "Bearer t0ken", "Cookie": "session=abc"}
    conn.request("GET", "/me", headers=credentials)
    response = conn.getresponse()
    response.read()
    assert response.getheader("Set-Cookie") == "session=s3cret"
    conn.close()

    assert header(upstream.seen[0].headers, "Authorization") == "Bearer t0ken"
    assert header(upstream.seen[0].headers, "Cookie") == "session=abc"
    [exchange] = running.exchanges(1)
    assert header(exchange.request_headers, "Authorization") == MASKED
    revealed = bool(unmasked)
    assert header(exchange.request_headers, "Cookie") == ("session=abc" if revealed else MASKED)
    set_cookie = header(exchange.response_headers, "Set-Cookie")
    assert set_cookie == ("session=s3cret" if revealed else MASKED)


def documented_credential_headers() -> list[str]:
    """The credential headers docs/up.md says are masked."""
    text = (REPO / "docs" / "up.md").read_text()
    listed = re.search(r"credential headers — (.*?) — are masked", text, re.DOTALL)
    assert listed, "docs/up.md lists the masked headers"
    return re.findall(r"`([A-Za-z-]+)`", listed.group(1))


def test_every_documented_credential_header_is_masked_both_ways(
    proxy: Callable[..., Running], upstream: Upstream
) -> None:
    names = documented_credential_headers()
    assert {"Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie"} <= set(names)
    running = proxy()
    conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=10)
    sent = {name: f"{name.lower()}-t0ken" for name in names}
    conn.request("GET", "/reply-with?" + ",".join(names), headers=sent)
    response = conn.getresponse()
    response.read()
    conn.close()

    [exchange] = running.exchanges(1)
    for name in names:
        assert header(upstream.seen[0].headers, name) == sent[name]  # forwarded as they are
        assert response.getheader(name) is not None
        assert header(exchange.request_headers, name) == MASKED, name
        assert header(exchange.response_headers, name) == MASKED, name


def test_websocket_upgrade_passes_bytes_both_ways(
    proxy: Callable[..., Running], upstream: Upstream
) -> None:
    running = proxy()
    sock = socket.create_connection(("127.0.0.1", running.port), timeout=scaled(10))
    early = b"\x81\x85\x00\x00\x00\x00early"  # a client's text frame, mask 0
    sock.sendall(
        b"GET /ws HTTP/1.1\r\nHost: app\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        + early  # sent with the request: before the switch, passed on after it
    )
    head, rest = read_head(sock)
    assert head.startswith(b"HTTP/1.1 101 ")
    assert b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head
    assert recv_exactly(sock, len(SERVER_HELLO) + len(early), rest) == SERVER_HELLO + early
    frame = os.urandom(100_000)
    sock.sendall(frame)
    assert recv_exactly(sock, len(frame)) == frame

    [exchange] = running.exchanges(1)
    assert (exchange.status, exchange.upgrade, exchange.error) == (101, "websocket", None)
    assert header(exchange.response_headers, "Sec-WebSocket-Accept") is not None
    assert exchange.response_body.size == 0
    sock.close()
    assert upstream.closed.wait(scaled(10)), "the upstream saw the client's close"
    assert len(running.store.select()) == 1


def test_expect_100_continue_is_relayed(proxy: Callable[..., Running], upstream: Upstream) -> None:
    running = proxy()
    with socket.create_connection(("127.0.0.1", running.port), timeout=scaled(10)) as sock:
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nHost: app\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        )
        head, rest = read_head(sock)  # the body is sent only once the service asks for it
        assert head.startswith(b"HTTP/1.1 100 ")
        sock.sendall(b"hello")
        head, rest = read_head(sock, rest)
        assert head.startswith(b"HTTP/1.1 200 ")

    [exchange] = running.exchanges(1)
    assert (exchange.status, bytes(exchange.request_body.kept)) == (200, b"hello")
    assert upstream.seen[0].body == b"hello"


def test_upstream_down_answers_502(proxy: Callable[..., Running]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    running = proxy(upstream_port=closed_port)
    conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=scaled(10))
    for _ in range(2):  # the connection stays usable
        conn.request("POST", "/orders", body=b"{}")
        response = conn.getresponse()
        assert response.status == 502
        assert b"cannot connect" in response.read()
    conn.close()

    exchanges = running.exchanges(2)
    for exchange in exchanges:
        assert exchange.status == 502
        assert exchange.error is not None and f"127.0.0.1:{closed_port}" in exchange.error
        assert bytes(exchange.request_body.kept) == b"{}"


def test_upstream_breaking_off_is_recorded(proxy: Callable[..., Running]) -> None:
    running = proxy()
    conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=scaled(10))
    conn.request("GET", "/broken")
    response = conn.getresponse()
    with pytest.raises(http.client.IncompleteRead):
        response.read()
    conn.close()

    [exchange] = running.exchanges(1)
    assert exchange.status == 200
    assert exchange.error == "the service closed the connection"
    assert bytes(exchange.response_body.kept) == b"0123456789"


def test_malformed_and_old_requests(proxy: Callable[..., Running], upstream: Upstream) -> None:
    running = proxy()
    with socket.create_connection(("127.0.0.1", running.port), timeout=scaled(10)) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        head, _ = read_head(sock)
        assert head.startswith(b"HTTP/1.1 400 ")
    with socket.create_connection(("127.0.0.1", running.port), timeout=scaled(10)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: app\r\nX-Big: " + b"x" * 300_000)
        head, _ = read_head(sock)  # not lost to a reset, though the rest was never read
        assert head.startswith(b"HTTP/1.1 431 ")
    with socket.create_connection(("127.0.0.1", running.port), timeout=scaled(10)) as sock:
        sock.sendall(b"GET /old HTTP/1.0\r\n\r\n")  # no Host, no keep-alive
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
        assert response.startswith(b"HTTP/1.1 200 ")
        assert response.endswith(b"hello /old")

    [exchange] = running.exchanges(1)  # the malformed request is not recorded
    assert (exchange.url, exchange.http_version, exchange.status) == ("/old", "1.0", 200)
    assert header(upstream.seen[0].headers, "Host") == f"127.0.0.1:{upstream.port}"


def test_identify_names_the_calling_service(proxy: Callable[..., Running]) -> None:
    asked: list[tuple[tuple[str, int], tuple[str, int]]] = []

    async def identify(client: tuple[str, int], server: tuple[str, int]) -> str | None:
        asked.append((client, server))
        pid = await asyncio.to_thread(socket_owner, client, server)
        return f"pid {pid}"

    running = proxy(identify=identify)
    conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=scaled(10))
    for _ in range(2):
        conn.request("GET", "/")
        conn.getresponse().read()
    local = conn.sock.getsockname()
    conn.close()

    exchanges = running.exchanges(2)
    assert [e.client_service for e in exchanges] == [f"pid {os.getpid()}"] * 2
    assert asked == [(local, ("127.0.0.1", running.port))]  # once per connection


def test_a_caller_that_hangs_up_at_once_is_still_identified(
    proxy: Callable[..., Running],
) -> None:
    """A process that makes one request and exits is found: the response waits for identify
    (the caller's socket is gone once it has its answer)."""

    async def identify(client: tuple[str, int], server: tuple[str, int]) -> str | None:
        return str(await asyncio.to_thread(socket_owner, client, server))

    running = proxy(identify=identify)
    caller = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import urllib.request, sys; "
            f"print(urllib.request.urlopen(sys.argv[1], timeout={scaled(10)}).read().decode())",
            f"http://127.0.0.1:{running.port}/once",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    out, _ = caller.communicate(timeout=scaled(30))
    assert out == "hello /once\n"
    [exchange] = running.exchanges(1)
    assert exchange.client_service == str(caller.pid)


@pytest.mark.parametrize("failure", ["raises", "hangs"])
def test_a_failing_identify_leaves_the_exchange_alone(
    proxy: Callable[..., Running], monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    monkeypatch.setattr(limits, "IDENTIFY_TIMEOUT", 0.2)

    async def identify(client: tuple[str, int], server: tuple[str, int]) -> str | None:
        if failure == "hangs":
            await asyncio.Event().wait()
        raise RuntimeError("no /proc here")

    running = proxy(identify=identify)
    conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=scaled(10))
    for _ in range(2):
        conn.request("GET", "/")
        assert conn.getresponse().read() == b"hello /"
    conn.close()
    exchanges = running.exchanges(2)
    assert [(e.client_service, e.status) for e in exchanges] == [(None, 200)] * 2


def test_close_ends_open_connections(proxy: Callable[..., Running]) -> None:
    running = proxy()
    sock = socket.create_connection(("127.0.0.1", running.port), timeout=scaled(10))
    sock.sendall(b"GET / HTTP/1.1\r\nHost: app\r\n\r\n")
    _, rest = read_head(sock)
    assert recv_exactly(sock, len(b"hello /"), rest) == b"hello /"
    running.call(running.proxy.close())
    assert sock.recv(65536) == b""  # the idle keep-alive connection was closed
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", running.port), timeout=scaled(10))
    sock.close()


def test_connections_are_bounded(
    proxy: Callable[..., Running], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past MAX_CONNECTIONS, a new connection is closed at once; one silent from its start for
    HEAD_TIMEOUT is closed."""
    monkeypatch.setattr(limits, "MAX_CONNECTIONS", 2)
    monkeypatch.setattr(limits, "HEAD_TIMEOUT", 0.5)
    running = proxy()
    held = [
        socket.create_connection(("127.0.0.1", running.port), timeout=scaled(10)) for _ in range(2)
    ]
    with (
        socket.create_connection(("127.0.0.1", running.port), timeout=scaled(10)) as third,
        contextlib.suppress(ConnectionResetError),  # closed unread: a reset is as good
    ):
        assert third.recv(100) == b""
    wait_for(lambda: "2 connections open" in running.log_text.getvalue(), message="a warning")
    began = time.monotonic()
    for sock in held:
        assert sock.recv(100) == b""  # silent too long
        sock.close()
    assert time.monotonic() - began < scaled(5)
    conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=scaled(10))
    conn.request("GET", "/")
    assert conn.getresponse().read() == b"hello /"
    conn.close()


@pytest.mark.parametrize("lookup", ["sock_diag", "/proc/net/tcp"])
@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_socket_owner_finds_this_process(
    monkeypatch: pytest.MonkeyPatch, lookup: str, host: str
) -> None:
    if lookup == "/proc/net/tcp":

        def no_netlink(*args: object) -> None:
            raise OSError(errno.EPROTONOSUPPORT, "no sock_diag here")

        monkeypatch.setattr(peers, "_diag_inode", no_netlink)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as server:
        try:
            server.bind((host, 0))
        except OSError:
            pytest.skip(f"no {host} here")
        server.listen()
        with socket.create_connection(server.getsockname()[:2], timeout=scaled(10)) as client:
            accepted, _ = server.accept()
            with accepted:
                mine = client.getsockname()[:2], client.getpeername()[:2]
                assert peers.socket_owner(*mine) == os.getpid()
                # the other end is ours too; an unknown pair is nobody's
                theirs = accepted.getsockname()[:2], accepted.getpeername()[:2]
                assert peers.socket_owner(*theirs) == os.getpid()
                assert peers.socket_owner((host, 1), (host, 2)) is None
