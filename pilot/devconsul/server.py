"""`DevConsul`: the registry served over HTTP from a thread, and `running()` for tests."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
import socketserver
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from pilot.devconsul.agent.local import AgentOptions
from pilot.devconsul.agent.registry import Registry
from pilot.devconsul.checks.scripts import ScriptRunner
from pilot.devconsul.dns.options import DnsOptions
from pilot.devconsul.http.handler import make_handler
from pilot.devconsul.routes.agent import add_agent_routes
from pilot.devconsul.routes.agent_self import add_self_routes
from pilot.devconsul.routes.catalog import add_catalog_routes
from pilot.devconsul.routes.checks import add_check_routes
from pilot.devconsul.routes.config import add_config_routes
from pilot.devconsul.routes.connect_off import add_connect_off_routes
from pilot.devconsul.routes.events import add_event_routes
from pilot.devconsul.routes.health import add_health_routes
from pilot.devconsul.routes.kv import add_kv_routes
from pilot.devconsul.routes.log_stream import LogStreams
from pilot.devconsul.routes.router import Router
from pilot.devconsul.routes.session import add_session_routes
from pilot.devconsul.routes.status import add_status_routes
from pilot.devconsul.routes.txn import add_txn_routes
from pilot.devconsul.state.catalog import DATACENTER

if TYPE_CHECKING:
    from pilot.devconsul.dns.server import DnsServer

log = logging.getLogger("pilot.devconsul")


MAX_CONNS_PER_CLIENT = 200  # limits.http_max_conns_per_client
TOO_MANY = b"Your IP is issuing too many concurrent connections, please rate limit your calls\n"
TOO_MANY_RESPONSE = (  # go-connlimit's answer past the limit, before the connection closes
    b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain\r\n"
    b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(TOO_MANY), TOO_MANY)
)


class _Server(ThreadingHTTPServer):
    """One thread per connection, at most `MAX_CONNS_PER_CLIENT` from one IP address."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self._clients: Counter[str] = Counter()
        self._clients_lock = threading.Lock()
        super().__init__(address, handler)

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse lookup of the host name."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    def verify_request(self, request: Any, client_address: Any) -> bool:
        """Count the connection against its client's limit; past it, answer 429 and close."""
        with self._clients_lock:
            if self._clients[client_address[0]] < MAX_CONNS_PER_CLIENT:
                self._clients[client_address[0]] += 1
                return True
        log.debug(
            "HTTP: %s has %d connections, one more refused", client_address[0], MAX_CONNS_PER_CLIENT
        )
        with contextlib.suppress(OSError):
            request.settimeout(0.01)  # no waiting on a client that does not read
            request.sendall(TOO_MANY_RESPONSE)
        return False

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._clients_lock:
                self._clients[client_address[0]] -= 1
                if not self._clients[client_address[0]]:
                    del self._clients[client_address[0]]


class _Server6(_Server):
    address_family = socket.AF_INET6


def split_listen(listen: str) -> tuple[str, int]:
    """("host", port) of "host:port" or "[v6]:port".

    Raises:
        ValueError: when it is not one.
    """
    host, sep, port = listen.rpartition(":")
    if not sep or not (port.isascii() and port.isdigit()) or int(port) > 65535:
        raise ValueError(f"{listen!r} is not HOST:PORT")
    return host.strip("[]") or "127.0.0.1", int(port)


class DevConsul:
    """A single-node, Consul-compatible registry, served from background threads.

    Args:
        listen: "host:port" to serve on; port 0 picks a free one (see `address`).
        node: the node's name (default: the host name).
        fast_reaper: reap critical services within about a second instead of Consul's
            1-minute minimum and 30 s period (for tests).
        datacenter: the datacenter's name (Consul's `-datacenter`).
        script_checks: "all" (`-enable-script-checks`: script checks registered over HTTP
            run), "local" (`-enable-local-script-checks`: only those of local
            configuration, which consul-dev has none of) or "" (none, the default).
        run_script: how script checks run, `(args, timeout) -> (exit code, or None when
            killed at the timeout; output)`; needed with `script_checks`, since the registry
            never starts a process itself (see `checks.script_process` for `pilot consul-dev`'s).
        dns: "host:port" of the DNS interface (UDP and TCP; port 0 picks a free one), or None
            for none: embedded in pilot it is off unless asked for.
        dns_options: Consul's dns_config (`only_passing`, `enable_truncate`, TTLs...).
        prometheus_retention: telemetry.prometheus_retention_time in seconds (0: no
            Prometheus format on /v1/agent/metrics, as Consul).
        on_leave: called after PUT /v1/agent/leave is answered (None: leave does nothing).

    Raises:
        OSError: an address cannot be bound.
        ValueError: `listen` or `dns` is not HOST:PORT.
    """

    def __init__(
        self,
        listen: str = "127.0.0.1:0",
        node: str | None = None,
        fast_reaper: bool = False,
        datacenter: str = DATACENTER,
        dns: str | None = None,
        dns_options: DnsOptions | None = None,
        script_checks: str = "",
        run_script: ScriptRunner | None = None,
        prometheus_retention: float = 0.0,
        on_leave: Callable[[], None] | None = None,
    ) -> None:
        if script_checks and run_script is None:
            raise ValueError("script checks need a run_script")
        host, port = split_listen(listen)
        options = AgentOptions.fast() if fast_reaper else AgentOptions()
        self.registry = Registry(
            node or socket.gethostname(),
            _node_address(host),
            options,
            datacenter,
            script_checks=script_checks,
            run_script=run_script,
            prometheus_retention=prometheus_retention,
            on_leave=on_leave,
        )
        self.dns: DnsServer | None = None
        if dns is not None:
            from pilot.devconsul.dns.answers import Answerer
            from pilot.devconsul.dns.server import DnsServer

            dns_host, dns_port = split_listen(dns)
            answerer = Answerer(self.registry, datacenter, dns_options or DnsOptions())
            self.dns = DnsServer(dns_host, dns_port, answerer)
        router = Router(datacenter)
        for add in (
            add_agent_routes,
            add_check_routes,
            add_health_routes,
            add_catalog_routes,
            add_kv_routes,
            add_session_routes,
            add_txn_routes,
            add_self_routes,
            add_status_routes,
            add_event_routes,
            add_config_routes,
            add_connect_off_routes,
        ):
            add(router, self.registry)
        self.log_streams = LogStreams()
        self.log_streams.add_routes(router)
        self.router = router
        server = _Server6 if ":" in host else _Server
        try:
            self._server = server((host, port), make_handler(router))
        except OSError:
            if self.dns is not None:
                self.dns.stop()
            raise
        self._host = host
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # how soon stop() is noticed
            name="consul-dev http",
            daemon=True,
        )

    @property
    def address(self) -> str:
        """ "host:port" it serves on (the real port when asked for port 0)."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{host}:{self._server.server_address[1]}"

    def start(self) -> None:
        """Serve in background threads."""
        self.registry.start()
        self._thread.start()
        if self.dns is not None:
            self.dns.start()

    def stop(self) -> None:
        """Stop serving; blocked queries answer at once."""
        self.log_streams.close()
        self.registry.stop()
        if self.dns is not None:
            self.dns.stop()
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()


@contextmanager
def running(listen: str = "127.0.0.1:0", node: str | None = None) -> Iterator[str]:
    """A registry for the duration of a `with` block; yields its "host:port"."""
    registry = DevConsul(listen, node)
    registry.start()
    try:
        yield registry.address
    finally:
        registry.stop()


def _node_address(host: str) -> str:
    """The node's address: the listen address, unless it is a wildcard or a name."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "127.0.0.1"
    return "127.0.0.1" if address.is_unspecified else str(address)
