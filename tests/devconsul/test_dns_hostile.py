"""The DNS interface under hostile clients, over real sockets: no datagram stops or floods it
(FORMERR or nothing, never a traceback), and TCP has a connection cap and read deadlines."""

from __future__ import annotations

import logging
import random
import socket
import struct
import time
from collections.abc import Iterator

import dns.exception
import dns.message
import dns.query
import dns.rcode
import pytest

from pilot.devconsul.dns.server import MAX_TCP_CONNECTIONS, READ_TIMEOUT
from pilot.devconsul.server import DevConsul
from tests.helpers import wait_for

QUERY = dns.message.make_query("consul.service.consul.", "A")


@pytest.fixture
def registry() -> Iterator[DevConsul]:
    """A registry with DNS on a free port."""
    dev = DevConsul("127.0.0.1:0", node="node1", dns="127.0.0.1:0")
    dev.start()
    yield dev
    dev.stop()


def where(registry: DevConsul) -> tuple[str, int]:
    assert registry.dns is not None
    host, port = registry.dns.address.rsplit(":", 1)
    return host, int(port)


def answers_udp(registry: DevConsul) -> bool:
    """Whether a well-formed query over UDP is answered (NOERROR)."""
    host, port = where(registry)
    try:
        response = dns.query.udp(QUERY, host, port=port, timeout=2)
    except dns.exception.Timeout:
        return False
    return response.rcode() == dns.rcode.NOERROR and bool(response.answer)


def send(registry: DevConsul, wire: bytes, wait: float = 1.0) -> bytes | None:
    """One datagram; the answer, or None when there is none within `wait` seconds."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(wait)
        sock.sendto(wire, where(registry))
        try:
            return sock.recv(65535)
        except TimeoutError:
            return None


HEADER = b"\x12\x34\x01\x00"  # id 0x1234, a query with RD


@pytest.mark.parametrize(
    "wire",
    [
        pytest.param(HEADER + b"\x00\x01\x00\x00\x00\x00\x00\x00", id="question-missing"),
        pytest.param(
            HEADER + b"\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01",
            id="pointer-to-itself",
        ),
        pytest.param(HEADER + b"\xff\xff\xff\xff\xff\xff\xff\xff", id="absurd-counts"),
        pytest.param(HEADER + b"\x00\x01\x00\x00\x00\x00\x00\x00\x07serv", id="label-cut-short"),
        pytest.param(
            HEADER + b"\x00\x02\x00\x00\x00\x00\x00\x00" + QUERY.to_wire()[12:] * 2,
            id="two-questions",
        ),
    ],
)
def test_malformed_queries_get_formerr(
    registry: DevConsul, wire: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """A message that does not parse (or asks two questions) gets FORMERR with its id, as
    miekg/dns answers; at most one debug line, and the server goes on answering."""
    with caplog.at_level(logging.DEBUG, "pilot.devconsul"):
        answer = send(registry, wire)
    assert answer is not None
    response = dns.message.from_wire(answer)
    assert (response.id, response.rcode()) == (0x1234, dns.rcode.FORMERR)
    assert len(caplog.records) <= 1
    assert all(r.levelno == logging.DEBUG and r.exc_info is None for r in caplog.records)
    assert answers_udp(registry)


@pytest.mark.parametrize(
    "wire",
    [b"", b"\x00", HEADER + b"\x00\x01", b"\x12\x34\x81\x80" + b"\x00" * 8],
    ids=["empty", "one-byte", "short-header", "a-response"],
)
def test_datagrams_that_are_no_query_are_dropped(registry: DevConsul, wire: bytes) -> None:
    """An empty or cut datagram, or a response, is dropped, and the server still serves
    (an empty datagram used to stop the UDP server for good)."""
    assert send(registry, wire, wait=0.3) is None
    assert answers_udp(registry)


def test_non_utf8_labels_are_nxdomain_without_traceback(
    registry: DevConsul, caplog: pytest.LogCaptureFixture
) -> None:
    """A name with a label that is not UTF-8 is a well-formed question for no known name."""
    question = b"\x03\xff\xfe\xfd\x07service\x06consul\x00\x00\x01\x00\x01"
    with caplog.at_level(logging.DEBUG, "pilot.devconsul"):
        answer = send(registry, HEADER + b"\x00\x01\x00\x00\x00\x00\x00\x00" + question)
    assert answer is not None
    assert dns.message.from_wire(answer).rcode() == dns.rcode.NXDOMAIN
    assert not caplog.records


def test_random_garbage_never_stops_the_server(
    registry: DevConsul, caplog: pytest.LogCaptureFixture
) -> None:
    """2,000 mutated queries (bytes flipped, cut, random): every one answered or dropped
    without a warning, and a good query is still answered."""
    rng = random.Random(7)
    base = dns.message.make_query("web.service.consul.", "SRV", use_edns=0).to_wire()
    with (
        caplog.at_level(logging.DEBUG, "pilot.devconsul"),
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock,
    ):
        for _ in range(2000):
            wire = bytearray(base)
            for _ in range(rng.randint(1, 6)):
                wire[rng.randrange(len(wire))] = rng.randrange(256)
            if rng.random() < 0.3:
                wire = wire[: rng.randrange(len(wire))]
            if rng.random() < 0.1:
                wire = bytearray(rng.randbytes(rng.randrange(40)))
            sock.sendto(bytes(wire), where(registry))
        wait_for(lambda: answers_udp(registry), 10, message="a query answered after garbage")
    assert not [r for r in caplog.records if r.levelno > logging.DEBUG or r.exc_info]


def test_tcp_connections_are_capped_and_idle_ones_closed(registry: DevConsul) -> None:
    """Past the cap a new TCP connection is closed at once; a connection that never sends a
    whole query is closed after the read deadline, which frees its place."""
    idle = [
        socket.create_connection(where(registry), timeout=5) for _ in range(MAX_TCP_CONNECTIONS)
    ]
    try:
        idle[0].sendall(b"\x00\x40\x00")  # a prefix announcing 64 bytes, then one: a stall
        host, port = where(registry)
        wait_for(
            lambda: _refused(host, port), 5, message="a connection past the cap closed at once"
        )
        started = time.monotonic()
        for sock in idle:
            sock.settimeout(READ_TIMEOUT + 5)
            assert sock.recv(1) == b""  # closed by the server
        assert time.monotonic() - started < READ_TIMEOUT + 3
        response = dns.query.tcp(QUERY, host, port=port, timeout=5)
        assert response.rcode() == dns.rcode.NOERROR
    finally:
        for sock in idle:
            sock.close()


def test_tcp_answers_several_queries_on_one_connection(registry: DevConsul) -> None:
    """Length-prefixed queries in turn on one connection, each answered."""
    with socket.create_connection(where(registry), timeout=5) as sock:
        for _ in range(3):
            wire = QUERY.to_wire()
            sock.sendall(struct.pack("!H", len(wire)) + wire)
            length = struct.unpack("!H", _exactly(sock, 2))[0]
            response = dns.message.from_wire(_exactly(sock, length))
            assert response.rcode() == dns.rcode.NOERROR


def _refused(host: str, port: int) -> bool:
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.settimeout(1)
        try:
            return sock.recv(1) == b""
        except TimeoutError:
            return False


def _exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk
        data += chunk
    return data
