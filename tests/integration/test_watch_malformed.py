"""An answer from Consul with one malformed instance (a remote Consul of another version, a
proxy that rewrites answers): the valid instances are kept, and one warning names the bad one."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.helpers import Pilot, wait_for
from tests.integration.test_watch_after_restart import watch_status


def entry(ident: str, port: object) -> dict[str, object]:
    return {
        "Node": {"Node": "n1", "Address": "127.0.0.9"},
        "Service": {"ID": ident, "Service": "db", "Address": "127.0.0.9", "Port": port},
        "Checks": [{"Status": "passing"}],
    }


ANSWER = [entry("db-1", 5001), entry("db-bad", "five"), entry("db-2", 5002)]


class Answers(BaseHTTPRequestHandler):
    """GET /v1/health/service/db answers ANSWER at index 7; a blocking query waits 1 s first."""

    served: list[str] = []  # the path of each answer

    def do_GET(self) -> None:
        if not self.path.startswith("/v1/health/service/db"):
            self.send_error(404)
            return
        if "index=" in self.path:
            time.sleep(1.0)
        body = json.dumps(ANSWER).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Consul-Index", "7")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        Answers.served.append(self.path)

    def log_message(self, *_: object) -> None:
        pass


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, *_: object) -> None:
        """pilot hanging up on a blocking query at its exit is no error."""


@pytest.fixture
def consul() -> Iterator[str]:
    server = QuietServer(("127.0.0.1", 0), Answers)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_malformed_instance_is_left_out_and_named(
    pilot: Callable[..., Pilot], consul: str
) -> None:
    """The two valid instances are seen, and the bad one is named once, not at every answer."""
    p = pilot(
        {
            "consul": consul,
            "watches": [{"name": "db", "service": "db", "wait": "1s"}],
            "jobs": [{"name": "idle", "exec": ["sleep", "300"]}],
        }
    )
    wait_for(
        lambda: watch_status(p, "db").get("instances") == 2,
        5,
        message=f"the two valid instances\n{watch_status(p, 'db')}\n{p.output}",
    )
    wait_for(lambda: "'db-bad'" in p.output, 5, message=f"the warning\n{p.output}")
    answered = len(Answers.served)
    wait_for(lambda: len(Answers.served) >= answered + 2, 5, message="two more answers")
    warnings = [line for line in p.output.splitlines() if "malformed" in line]
    assert len(warnings) == 1, warnings
    assert "instance 'db-bad'" in warnings[0] and "five" in warnings[0], warnings[0]
