"""A call the agent never finishes answering (an agent whose RPC to a server is stuck after a
partition, a proxy that keeps the connection alive) is abandoned at its deadline: a watch
starts over from index 0 and sees what changed meanwhile; a leader demotes."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from pathlib import Path

from tests.helpers import Pilot, Registry, wait_for
from tests.integration.test_consul import first_line
from tests.integration.test_leader import member
from tests.integration.test_watch_after_restart import register, watch_status

WAIT = 1.0  # the watch's long-poll wait: its deadline is WAIT + WAIT/16 + pilot's margin


class StallProxy:
    """TCP between pilot and a registry that, while `stalling` is set, answers a request
    whose first line `stalls` (by default a blocking query) with headers and then one byte of
    body a second, for ever: no read timeout fires."""

    def __init__(
        self, upstream: str, stalls: Callable[[str], bool] = lambda line: "index=" in line
    ) -> None:
        self.upstream, self._stalls = upstream, stalls
        self.stalling = threading.Event()
        self.stalled: list[str] = []  # the first line of each blocking query held
        self._closed = threading.Event()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self._server.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        host, port = self.upstream.rsplit(":", 1)
        with contextlib.suppress(OSError), client:
            while data := client.recv(65536):
                line = first_line(data)
                if self.stalling.is_set() and self._stalls(line):
                    self.stalled.append(line)
                    client.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        b"X-Consul-Index: 1\r\nContent-Length: 100000\r\n\r\n"
                    )
                    while not self._closed.wait(1.0):
                        client.sendall(b" ")
                    return
                with socket.create_connection((host, int(port))) as upstream:
                    upstream.sendall(close_after(data))
                    while reply := upstream.recv(65536):
                        client.sendall(reply)
                return  # one request per connection: the client reconnects for the next

    def close(self) -> None:
        self._closed.set()
        self._server.close()


def close_after(request: bytes) -> bytes:
    """`request` asking the server to close the connection after its answer."""
    head, _, rest = request.partition(b"\r\n")
    kept = b"\r\n".join(
        line for line in rest.split(b"\r\n") if not line.lower().startswith(b"connection:")
    )
    return head + b"\r\nConnection: close\r\n" + kept


def test_a_watch_abandons_a_long_poll_that_never_ends(
    pilot: Callable[..., Pilot], registry: Registry
) -> None:
    """While the agent stalls a long poll, the template keeps the last answer; once the agent
    answers again, the instance registered meanwhile is seen (on the old code the stalled
    poll held the watch for ever)."""
    register(registry, 1)
    proxy = StallProxy(registry.address)
    try:
        p = pilot(
            {
                "consul": proxy.address,
                "logging": {"level": "debug"},
                "watches": [{"name": "db", "service": "db", "wait": f"{WAIT:g}s"}],
                "jobs": [{"name": "idle", "exec": ["sleep", "300"]}],
            }
        )
        wait_for(lambda: watch_status(p, "db").get("instances") == 1, 5, message="first")
        proxy.stalling.set()
        wait_for(lambda: proxy.stalled, 5, message=f"a long poll stalled\n{p.output}")
        register(registry, 2)
        proxy.stalling.clear()
        wait_for(
            lambda: watch_status(p, "db").get("instances") == 2,
            10,
            message=f"the instance registered during the stall\n{watch_status(p, 'db')}\n"
            f"{p.output}",
        )
        assert "no answer within" in p.output
    finally:
        proxy.close()


def test_a_leader_whose_agent_stalls_demotes(
    pilot: Callable[..., Pilot], registry: Registry, tmp_path: Path
) -> None:
    """A leader whose check of the lock gets no answer (its agent cut off from the servers,
    which elect another within seconds) demotes within its confirm deadline, not never."""
    proxy = StallProxy(registry.address, lambda line: line.startswith("GET /v1/kv/"))
    try:
        config = member(registry, 7000, tmp_path)
        config["consul"] = proxy.address
        p = pilot(config)
        events = tmp_path / "events"
        wait_for(lambda: events.exists() and "elected" in events.read_text(), 10, message="elected")
        proxy.stalling.set()
        wait_for(lambda: proxy.stalled, 5, message=f"a check of the lock stalled\n{p.output}")
        wait_for(
            lambda: "demoted" in events.read_text(),
            5,
            message=f"the stalled leader demoted\n{p.output}",
        )
        # pilot's log reaches the test through a pipe, after the hook has written the event
        wait_for(
            lambda: "cannot confirm the lock: no answer within" in p.output,
            5,
            message="why it demoted, in pilot's log",
        )
    finally:
        proxy.close()
