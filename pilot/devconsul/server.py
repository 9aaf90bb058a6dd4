"""The registry server: `DevConsul` serves Consul's HTTP API from memory on one address."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer

from pilot.devconsul.checks import AgentOptions
from pilot.devconsul.handler import Router, make_handler
from pilot.devconsul.routes_agent import AgentRoutes
from pilot.devconsul.routes_kv import KVRoutes
from pilot.devconsul.routes_read import ReadRoutes
from pilot.devconsul.state import State
from pilot.devconsul.ticker import Ticker

log = logging.getLogger("pilot.consul-dev")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class DevConsul:
    """A single-node, Consul-compatible registry.

    Args:
        listen: "host:port"; port 0 picks a free one (see `address`).
        node: the node name (default: the host name).
        fast_reaper: reap critical services within seconds instead of Consul's 1-minute
            minimum and 30 s period (for tests only).
    """

    def __init__(
        self, listen: str = "127.0.0.1:8500", node: str | None = None, fast_reaper: bool = False
    ) -> None:
        host, _, port = listen.rpartition(":")
        self._host = host or "127.0.0.1"
        self.state = State(node or socket.gethostname(), self._host)

        options = AgentOptions()
        if fast_reaper:
            options.deregister_minimum = 1.0
        router = Router()
        AgentRoutes(router, options)
        ReadRoutes(router)
        KVRoutes(router)
        self._server = _Server(
            (host or "127.0.0.1", int(port)), make_handler(self.state, router, log.debug)
        )
        self._ticker = Ticker(self.state, 1.0 if fast_reaper else 30.0)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="consul-dev http", daemon=True
        )

    @property
    def address(self) -> str:
        return f"{self._host}:{self._server.server_address[1]}"

    def start(self) -> None:
        """Serve in background threads."""
        self._ticker.start()
        self._thread.start()

    def stop(self) -> None:
        self._ticker.stop()
        self._server.shutdown()
        self._server.server_close()
        with self.state.lock:
            self.state.lock.notify_all()


@contextmanager
def running(listen: str = "127.0.0.1:0", node: str | None = None) -> Iterator[str]:
    """Run a registry for the duration of a `with` block; yields its address."""
    registry = DevConsul(listen, node)
    registry.start()
    try:
        yield registry.address
    finally:
        registry.stop()
