"""What a client of the traffic monitor's recording proxy cannot do: smuggle a request past the
record, hold connections with a head trickled byte by byte, take every connection from one
address, or pass a head longer than MAX_HEAD (nor can the service)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from pilot.traffic import limits
from pilot.traffic.limits import MAX_HEAD
from tests.helpers import wait_for
from tests.integration.test_traffic_proxy import Running, read_head, recv_exactly


@dataclass
class LengthFramedService:
    """A service on a raw socket that frames every request by its Content-Length alone (as
    some do, ignoring Transfer-Encoding), keeps its connections alive, and answers each
    request `ok`, with `extra` header bytes in the head of each answer."""

    sock: socket.socket
    extra: int = 0
    targets: list[str] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._connection, args=(conn,), daemon=True).start()

    def _connection(self, conn: socket.socket) -> None:
        data = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                head, _, data = data.lstrip(b"\r\n").partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                self.targets.append(lines[0].split(" ")[1])
                length = next(
                    (
                        int(line.split(":", 1)[1])
                        for line in lines[1:]
                        if line.lower().startswith("content-length:")
                    ),
                    0,
                )
                while len(data) < length:
                    data += conn.recv(65536)
                data = data[length:]
                filler = b"X-Fill: " + b"f" * (self.extra - 10) + b"\r\n" if self.extra else b""
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" + filler + b"\r\nok")


@pytest.fixture
def service() -> Iterator[LengthFramedService]:
    sock = socket.create_server(("127.0.0.1", 0))
    up = LengthFramedService(sock)
    threading.Thread(target=up.serve, daemon=True).start()
    yield up
    sock.close()


@pytest.fixture
def proxy(service: LengthFramedService) -> Iterator[Callable[[], Running]]:
    started: list[Running] = []

    def start() -> Running:
        started.append(Running(service.port))
        return started[-1]

    yield start
    for running in started:
        running.close()
        assert "error:" not in running.log_text.getvalue()


def exchange(port: int, raw: bytes, source: str = "127.0.0.1") -> bytes:
    """Send `raw` on a new connection from `source`; the head of the answer."""
    with socket.create_connection(
        ("127.0.0.1", port), timeout=10, source_address=(source, 0)
    ) as sock:
        sock.sendall(raw)
        head, _ = read_head(sock)
        return head


def test_a_request_framed_two_ways_is_refused(
    proxy: Callable[[], Running], service: LengthFramedService
) -> None:
    """Content-Length and Transfer-Encoding together: the proxy reads the chunks, a service
    that reads Content-Length bytes would take the chunk's data for a request of its own, one
    the monitor never recorded. Refused, never forwarded (RFC 9112 §6.1)."""
    running = proxy()
    hidden = b"GET /hidden HTTP/1.1\r\nHost: app\r\n\r\n"
    assert 0x10 <= len(hidden) <= 0xFF  # its chunk line, "xx\r\n", is Content-Length's 4 bytes
    head = exchange(
        running.port,
        b"POST /upload HTTP/1.1\r\nHost: app\r\nContent-Length: 4\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
        + f"{len(hidden):x}\r\n".encode()
        + hidden
        + b"\r\n0\r\n\r\n",
    )
    assert head.startswith(b"HTTP/1.1 400 ")
    assert b"connection: close" in head.lower()
    assert exchange(running.port, b"GET /after HTTP/1.1\r\nHost: app\r\n\r\n").startswith(
        b"HTTP/1.1 200 "
    )
    assert [e.url for e in running.exchanges(1)] == ["/after"]
    assert service.targets == ["/after"]  # neither /upload nor /hidden reached it


def test_a_trickled_head_is_cut_off(
    proxy: Callable[[], Running], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A head must come whole within HEAD_TIMEOUT, however steadily its bytes trickle; a
    connection silent from its start is closed as soon; one kept alive may idle longer."""
    monkeypatch.setattr(limits, "HEAD_TIMEOUT", 1.0)
    running = proxy()
    began = time.monotonic()
    with socket.create_connection(("127.0.0.1", running.port), timeout=10) as sock:
        with contextlib.suppress(ConnectionError):
            for byte in b"GET / HTTP/1.1\r\nHost: app\r\nX-Slow: " + b"s" * 100:
                sock.sendall(bytes([byte]))
                time.sleep(0.1)  # the client's pace, not a synchronisation
                assert time.monotonic() - began < 5, "still open"
        assert time.monotonic() - began < 5
    began = time.monotonic()
    with socket.create_connection(("127.0.0.1", running.port), timeout=10) as silent:
        with contextlib.suppress(ConnectionError):
            assert silent.recv(100) == b""
        assert time.monotonic() - began < 5
    with socket.create_connection(("127.0.0.1", running.port), timeout=10) as kept:
        for path in (b"/one", b"/two"):
            kept.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: app\r\n\r\n")
            head, rest = read_head(kept)
            assert head.startswith(b"HTTP/1.1 200 ") and recv_exactly(kept, 2, rest) == b"ok"
            kept.settimeout(1.5)  # silent longer than HEAD_TIMEOUT between requests: kept
            with pytest.raises(TimeoutError):
                kept.recv(100)
            kept.settimeout(10)


def test_one_address_cannot_take_every_connection(
    proxy: Callable[[], Running], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "MAX_PER_ADDRESS", 2)
    running = proxy()
    held = [socket.create_connection(("127.0.0.1", running.port), timeout=10) for _ in range(2)]
    try:
        with (
            socket.create_connection(("127.0.0.1", running.port), timeout=10) as third,
            contextlib.suppress(ConnectionResetError),  # closed unread: a reset is as good
        ):
            assert third.recv(100) == b""
        request = b"GET / HTTP/1.1\r\nHost: app\r\n\r\n"
        assert exchange(running.port, request, source="127.0.0.2").startswith(b"HTTP/1.1 200 ")
        wait_for(
            lambda: "one address: 2 connections open" in running.log_text.getvalue(),
            message="a warning",
        )
    finally:
        for sock in held:
            sock.close()
    wait_for(
        lambda: exchange(running.port, request).startswith(b"HTTP/1.1 200 "),
        message="127.0.0.1 served again once its connections closed",
    )


def head_of(size: int) -> bytes:
    """A request head of exactly `size` bytes."""
    start, end = b"GET /big HTTP/1.1\r\nHost: app\r\nX-Fill: ", b"\r\n\r\n"
    return start + b"f" * (size - len(start) - len(end)) + end


@pytest.mark.parametrize("size", [MAX_HEAD, MAX_HEAD + 1])
def test_request_heads_are_bounded_at_max_head(
    proxy: Callable[[], Running], service: LengthFramedService, size: int
) -> None:
    running = proxy()
    head = exchange(running.port, head_of(size))
    if size <= MAX_HEAD:
        assert head.startswith(b"HTTP/1.1 200 ")
        assert service.targets == ["/big"]
    else:
        assert head.startswith(b"HTTP/1.1 431 ")
        assert service.targets == []


@pytest.mark.parametrize("size", [MAX_HEAD, MAX_HEAD + 1])
def test_response_heads_are_bounded_at_max_head(
    proxy: Callable[[], Running], service: LengthFramedService, size: int
) -> None:
    base = len(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n")
    service.extra = size - base
    running = proxy()
    head = exchange(running.port, b"GET / HTTP/1.1\r\nHost: app\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 " if size <= MAX_HEAD else b"HTTP/1.1 502 ")
    [recorded] = running.exchanges(1)
    assert recorded.status == (200 if size <= MAX_HEAD else 502)
