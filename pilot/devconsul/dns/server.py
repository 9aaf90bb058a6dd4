"""The DNS interface on UDP and TCP (one address for both, as Consul's `ports.dns`), served
from background threads.

Nothing a client sends may stop it or hold it: a datagram of any content gets an answer, a
FORMERR or nothing; TCP takes at most `MAX_TCP_CONNECTIONS` at once, and a connection that
does not send a whole query within its deadline is closed (miekg/dns's 2 s read timeout for
a query, 8 s of idleness between queries)."""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
import struct
import threading
import time
from typing import Any

from pilot.devconsul.dns.answers import Answerer

log = logging.getLogger("pilot.devconsul")
BIND_ATTEMPTS = 20  # port 0: tries for a port free on both UDP and TCP
MAX_TCP_CONNECTIONS = 64  # beyond this, a new TCP connection is closed at once
READ_TIMEOUT = 2.0  # miekg/dns dnsTimeout: the time to read one whole query
IDLE_TIMEOUT = 8.0  # miekg/dns idleTimeout: between queries on one connection


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # a burst of connections waits to be taken (or refused)

    def __init__(self, address: tuple[str, int], answerer: Answerer) -> None:
        self.answerer = answerer
        self.slots = threading.BoundedSemaphore(MAX_TCP_CONNECTIONS)
        super().__init__(address, _Connection)

    def verify_request(self, request: Any, client_address: Any) -> bool:
        """Take a connection only while under the cap (a refused one is closed)."""
        if self.slots.acquire(blocking=False):
            return True
        log.debug(
            "DNS over TCP: %d connections open, one from %s closed",
            MAX_TCP_CONNECTIONS,
            client_address[0],
        )
        return False

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("DNS over TCP from %s: connection failed", client_address[0])


class _TCPServer6(_TCPServer):
    address_family = socket.AF_INET6


class DnsServer:
    """UDP and TCP listeners on `host:port` (port 0: one free port, the same for both)."""

    def __init__(self, host: str, port: int, answerer: Answerer) -> None:
        self.answerer = answerer
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        server = _TCPServer6 if family == socket.AF_INET6 else _TCPServer
        for attempt in range(BIND_ATTEMPTS if port == 0 else 1):
            self._udp = socket.socket(family, socket.SOCK_DGRAM)
            self._udp.bind((host, port))
            chosen = self._udp.getsockname()[1]
            try:
                self._tcp = server((host, chosen), answerer)
                break
            except OSError:  # a free UDP port whose TCP twin is taken: another one
                self._udp.close()
                if attempt == BIND_ATTEMPTS - 1 or port != 0:
                    raise
        port = chosen
        self._host, self._port = host, port
        self._stopping = False
        self._threads = [
            threading.Thread(target=self._serve_udp, name="consul-dev dns/udp", daemon=True),
            threading.Thread(
                target=self._tcp.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="consul-dev dns/tcp",
                daemon=True,
            ),
        ]

    @property
    def address(self) -> str:
        """ "host:port" served on (UDP and TCP)."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{host}:{self._port}"

    def start(self) -> None:
        """Serve in background threads."""
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop both listeners."""
        self._stopping = True
        if self._threads[1].is_alive():
            self._tcp.shutdown()
        self._tcp.server_close()
        with contextlib.suppress(OSError):
            self._udp.shutdown(socket.SHUT_RDWR)  # wakes the blocked recvfrom
        if self._threads[0].is_alive():
            self._threads[0].join(5)
        self._udp.close()

    def _serve_udp(self) -> None:
        while not self._stopping:
            try:
                wire, peer = self._udp.recvfrom(65535)
            except OSError:
                if self._stopping:
                    return
                continue  # e.g. ICMP unreachable of an earlier answer's peer
            if not wire:  # an empty datagram, or stop()'s shutdown
                continue
            response = answer_safely(self.answerer, wire, peer[0], udp=True)
            if response is not None:
                with contextlib.suppress(OSError):
                    self._udp.sendto(response, peer)


def answer_safely(answerer: Answerer, wire: bytes, peer: str, udp: bool) -> bytes | None:
    """The answer to one message; a failure of consul-dev's own is one line in the log."""
    try:
        return answerer.answer(wire, udp=udp)
    except Exception as error:
        log.warning("DNS query from %s failed: %s: %s", peer, type(error).__name__, error)
        return None


class _Connection(socketserver.BaseRequestHandler):
    """One TCP connection: length-prefixed queries answered in turn, each read within
    `READ_TIMEOUT`, the next one awaited for `IDLE_TIMEOUT`."""

    server: _TCPServer
    request: socket.socket

    def handle(self) -> None:
        peer = self.client_address[0]
        wait = READ_TIMEOUT
        while True:
            prefix = _read(self.request, 2, time.monotonic() + wait)
            if prefix is None:
                return
            length = struct.unpack("!H", prefix)[0]
            wire = _read(self.request, length, time.monotonic() + READ_TIMEOUT)
            if wire is None or not wire:
                return
            response = answer_safely(self.server.answerer, wire, peer, udp=False)
            if response is None:
                return
            self.request.settimeout(READ_TIMEOUT)
            try:
                self.request.sendall(struct.pack("!H", len(response)) + response)
            except OSError:
                return
            wait = IDLE_TIMEOUT


def _read(sock: socket.socket, size: int, deadline: float) -> bytes | None:
    """Exactly `size` bytes by `deadline` (monotonic), or None: the peer closed, stalled
    or failed."""
    data = bytearray()
    while len(data) < size:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        sock.settimeout(left)
        try:
            chunk = sock.recv(size - len(data))
        except OSError:  # including the timeout
            return None
        if not chunk:
            return None
        data += chunk
    return bytes(data)
