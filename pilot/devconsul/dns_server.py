"""The DNS interface on UDP and TCP (one address for both, as Consul's `ports.dns`), served
from background threads."""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
import struct
import threading

from pilot.devconsul.dns_answers import Answerer

log = logging.getLogger("pilot.devconsul")
BIND_ATTEMPTS = 20  # port 0: tries for a port free on both UDP and TCP


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


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
                self._tcp = server((host, chosen), _tcp_handler(answerer))
                break
            except OSError:  # a free UDP port whose TCP twin is taken: another one
                self._udp.close()
                if attempt == BIND_ATTEMPTS - 1 or port != 0:
                    raise
        port = chosen
        self._host, self._port = host, port
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
        if self._threads[1].is_alive():
            self._tcp.shutdown()
        self._tcp.server_close()
        with contextlib.suppress(OSError):
            self._udp.shutdown(socket.SHUT_RDWR)  # wakes the blocked recvfrom
        if self._threads[0].is_alive():
            self._threads[0].join(5)
        self._udp.close()

    def _serve_udp(self) -> None:
        while True:
            try:
                wire, peer = self._udp.recvfrom(65535)
            except OSError:
                return
            if not wire:  # shut down by stop()
                return
            try:
                response = self.answerer.answer(wire, udp=True)
                if response is not None:
                    self._udp.sendto(response, peer)
            except Exception:
                log.exception("DNS query from %s failed", peer[0])


def _tcp_handler(answerer: Answerer) -> type[socketserver.BaseRequestHandler]:
    class Handler(socketserver.StreamRequestHandler):
        """One TCP connection: length-prefixed queries answered in turn."""

        def handle(self) -> None:
            while True:
                prefix = self.rfile.read(2)
                if len(prefix) < 2:
                    return
                wire = self.rfile.read(struct.unpack("!H", prefix)[0])
                response = answerer.answer(wire, udp=False)
                if response is None:
                    return
                self.wfile.write(struct.pack("!H", len(response)) + response)

    return Handler
