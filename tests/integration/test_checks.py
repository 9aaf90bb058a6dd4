"""Health checks run inside pilot: http and tcp on the loop, exec through the one reaper."""

from __future__ import annotations

import asyncio
import http.server
import signal
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from pilot.discovery.checks import CheckResult, exec_check, http_check, tcp_check
from pilot.process.reaper import Reaper


@pytest.fixture
def web() -> Iterator[str]:
    """An HTTP server: /ok 200, /moved 301, /bad 500, /slow never answers in time."""
    release = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/slow":
                release.wait(5)
            code = {"/ok": 200, "/moved": 301, "/bad": 500}.get(self.path, 404)
            body = f"answer {code}".encode()
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    release.set()
    server.shutdown()


def run(check: Awaitable[CheckResult]) -> CheckResult:
    return asyncio.run(_wrap(check))


async def _wrap(check: Awaitable[CheckResult]) -> CheckResult:
    return await check


def test_http_statuses(web: str) -> None:
    """2xx and 3xx pass, 5xx fails, with Consul-like output including the body."""
    ok = run(http_check(f"{web}/ok", 2))
    assert ok.passing and ok.output == f"HTTP GET {web}/ok: 200 OK Output: answer 200"
    assert run(http_check(f"{web}/moved", 2)).passing
    bad = run(http_check(f"{web}/bad", 2))
    assert not bad.passing and "500" in bad.output


def test_http_timeout_and_refused(web: str) -> None:
    """A server too slow, or nobody listening, fails with a clear output."""
    assert "timed out" in run(http_check(f"{web}/slow", 0.3)).output
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    refused = run(http_check(f"http://127.0.0.1:{port}/", 1))
    assert not refused.passing


def test_tcp() -> None:
    """A listening port passes; a closed one fails."""
    listener = socket.create_server(("127.0.0.1", 0))
    address = f"127.0.0.1:{listener.getsockname()[1]}"
    assert run(tcp_check(address, 1)) == CheckResult(True, f"TCP connect {address}: Success")
    listener.close()
    assert not run(tcp_check(address, 1)).passing


def with_reaper(make: Callable[[Reaper], Awaitable[CheckResult]]) -> CheckResult:
    async def scenario() -> CheckResult:
        loop = asyncio.get_running_loop()
        reaper = Reaper()
        loop.add_signal_handler(signal.SIGCHLD, reaper.reap)
        try:
            return await make(reaper)
        finally:
            loop.remove_signal_handler(signal.SIGCHLD)

    return asyncio.run(scenario())


ENV = {"PATH": "/usr/bin:/bin"}


def test_exec_pass_fail_and_output() -> None:
    """Exit 0 passes with its output; another code fails and says which."""
    ok = with_reaper(lambda r: exec_check(("sh", "-c", "echo fine"), 5, r, ENV))
    assert ok == CheckResult(True, "fine")
    bad = with_reaper(lambda r: exec_check(("sh", "-c", "echo broken >&2; exit 3"), 5, r, ENV))
    assert not bad.passing and bad.output == "exit 3\nbroken"


def test_exec_timeout_kills_the_group() -> None:
    """A check past its timeout is killed, with its children, and fails."""
    result = with_reaper(lambda r: exec_check(("sh", "-c", "sleep 30 & sleep 30"), 0.3, r, ENV))
    assert not result.passing and result.output.startswith("timed out after 0.3s")


def test_exec_output_is_truncated_to_4k() -> None:
    """Output beyond 4 KiB is cut, as Consul keeps at most that."""
    result = with_reaper(
        lambda r: exec_check(("sh", "-c", "head -c 10000 /dev/zero | tr '\\0' x"), 5, r, ENV)
    )
    assert result.passing and len(result.output) == 4096


def test_missing_command_fails() -> None:
    """A command that does not exist fails the check instead of raising."""
    result = with_reaper(lambda r: exec_check(("/no/such/check",), 5, r, ENV))
    assert not result.passing and "No such file" in result.output
