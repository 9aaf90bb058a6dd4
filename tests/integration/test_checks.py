"""Health checks run inside pilot: http and tcp on the loop, exec through the one reaper."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from pilot.health import checks
from pilot.health.checks import CheckResult, exec_check, http_check, tcp_check
from pilot.process.reaper import Reaper
from tests.helpers import scaled, self_signed_certificate, wait_for

T = TypeVar("T")
ENV = {"PATH": "/usr/bin:/bin"}
BIG = b"x" * 100_000
ANSWERS = {
    "/ok": b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nanswer 200",
    "/moved": b"HTTP/1.1 301 Moved Permanently\r\nLocation: /ok\r\nContent-Length: 0\r\n\r\n",
    "/bad": b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 10\r\n\r\nanswer 500",
    "/chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n",
    "/big": b"HTTP/1.1 200 OK\r\n\r\n" + BIG,
    "/garbage": b"SSH-2.0-OpenSSH_9.2\r\n",
    "/banner": b"SSH-2.0-OpenSSH_9.2\r\n",  # held open, as an SSH server waits for its client
    "/head": b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",  # held open, no body
    "/cut": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\nhal",
}


@dataclass
class Web:
    """A raw HTTP server on 127.0.0.1: canned ANSWERS; /kept-open, /banner and /head answer but
    never close, /hang never answers, /close hangs up at once. It records each request's head."""

    url: str = ""
    requests: list[list[str]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head: list[str] = []
        while line := (await reader.readline()).decode().strip():
            head.append(line)
        self.requests.append(head)
        path = head[0].split()[1].partition("?")[0] if head else ""
        if path == "/kept-open":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nopen")
        elif path in ANSWERS:
            writer.write(ANSWERS[path])
        if path in ("/kept-open", "/hang", "/banner", "/head"):
            await self.release.wait()
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()


@contextlib.asynccontextmanager
async def serve(tls: ssl.SSLContext | None = None, host: str = "127.0.0.1") -> AsyncIterator[Web]:
    web = Web()
    server = await asyncio.start_server(web.handle, host, 0, ssl=tls)
    port = server.sockets[0].getsockname()[1]
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    web.url = f"{'https' if tls else 'http'}://{authority}"
    try:
        yield web
    finally:
        web.release.set()
        server.close()
        await server.wait_closed()


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await scenario()

    return asyncio.run(main())


def http(path: str, timeout: float = 5) -> tuple[str, CheckResult, list[list[str]]]:
    """(server URL, the check's result, the requests the server saw) for GET `path`."""

    async def scenario() -> tuple[str, CheckResult, list[list[str]]]:
        async with serve() as web:
            result = await http_check(web.url + path, timeout)
            return web.url, result, web.requests

    return run(scenario)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_http_2xx_passes_with_consul_like_output() -> None:
    """A 200 passes; the output is Consul's `HTTP GET <url>: <status> Output: <body>`."""
    url, result, requests = http("/ok?probe=1")
    assert result == CheckResult(True, f"HTTP GET {url}/ok?probe=1: 200 OK Output: answer 200")
    assert requests[0][0] == "GET /ok?probe=1 HTTP/1.1"
    assert f"Host: {url.removeprefix('http://')}" in requests[0]
    assert "Connection: close" in requests[0]


def test_http_3xx_passes_without_following() -> None:
    """A redirect passes as it is: the check makes one request."""
    url, result, requests = http("/moved")
    assert result == CheckResult(True, f"HTTP GET {url}/moved: 301 Moved Permanently Output: ")
    assert len(requests) == 1


def test_http_5xx_fails() -> None:
    """A 500 fails, with the status and the body in the output."""
    url, result, _ = http("/bad")
    expected = f"HTTP GET {url}/bad: 500 Internal Server Error Output: answer 500"
    assert result == CheckResult(False, expected)


def test_http_body_framing() -> None:
    """Chunked bodies are decoded; a Content-Length body is enough, no need to wait for EOF."""
    assert http("/chunked")[1].output.endswith("200 OK Output: hello world")
    kept_open = http("/kept-open", timeout=scaled(5))[1]
    assert kept_open.passing and kept_open.output.endswith("Output: open")


def test_http_cut_short_and_by_host_name() -> None:
    """An answer cut in the middle fails with that reason; a host name is resolved."""
    url, cut, _ = http("/cut")
    assert cut == CheckResult(
        False, f"HTTP GET {url}/cut: the server closed the connection in the middle of its answer"
    )

    async def by_name() -> CheckResult:
        async with serve() as web:
            return await http_check(web.url.replace("127.0.0.1", "localhost") + "/ok", 5)

    assert run(by_name).output.endswith("200 OK Output: answer 200")


def test_http_output_is_at_most_4k() -> None:
    """Only the start of a big body is kept: 4 KiB of output in all."""
    _, result, _ = http("/big")
    assert result.passing and len(result.output.encode()) == 4096
    assert result.output.endswith("x" * 1000)


def test_http_timeout() -> None:
    """A server that never answers fails the check after its timeout."""
    url, result, _ = http("/hang", timeout=0.3)
    assert result == CheckResult(False, f"HTTP GET {url}/hang: timed out after 0.3s")


def test_http_refused() -> None:
    """Nobody listening fails with the reason."""
    url = f"http://127.0.0.1:{closed_port()}/"
    result = run(lambda: http_check(url, 2))
    assert result == CheckResult(False, f"HTTP GET {url}: Connection refused")


def test_http_not_an_answer() -> None:
    """A server that hangs up, or answers something else than HTTP, fails the check."""
    url, hung_up, _ = http("/close")
    assert hung_up == CheckResult(
        False, f"HTTP GET {url}/close: the server closed the connection without answering"
    )
    garbage = http("/garbage")[1]
    assert not garbage.passing and "not an HTTP answer: 'SSH-2.0-OpenSSH_9.2'" in garbage.output
    started = time.monotonic()
    banner = http("/banner", timeout=scaled(10))[1]  # said at once, not after the timeout
    assert banner.output.endswith(": not an HTTP answer: 'SSH-2.0-OpenSSH_9.2'")
    assert time.monotonic() - started < scaled(5)


def test_http_head_and_ipv6() -> None:
    """A HEAD answer has no body to wait for; an IPv6 address goes in brackets in the URL and
    the Host header."""

    async def head() -> tuple[str, CheckResult]:
        async with serve() as web:
            return web.url, await http_check(f"{web.url}/head", scaled(10), method="HEAD")

    url, result = run(head)
    assert result == CheckResult(True, f"HTTP HEAD {url}/head: 200 OK Output: ")
    try:
        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
    except OSError as error:
        pytest.skip(f"no IPv6 loopback here: {error}")

    async def over_ipv6() -> tuple[Web, CheckResult]:
        async with serve(host="::1") as web:
            return web, await http_check(f"{web.url}/ok", 5)

    web, result = run(over_ipv6)
    assert result == CheckResult(True, f"HTTP GET {web.url}/ok: 200 OK Output: answer 200")
    assert f"Host: {web.url.removeprefix('http://')}" in web.requests[0]


def test_http_basic_auth_is_sent_and_redacted() -> None:
    """user:password in the URL becomes basic auth; the password never reaches the output."""

    async def scenario() -> tuple[Web, CheckResult]:
        async with serve() as web:
            authority = web.url.removeprefix("http://")
            return web, await http_check(f"http://probe:s%40cret@{authority}/ok", 5)

    web, result = run(scenario)
    token = base64.b64encode(b"probe:s@cret").decode()
    assert f"Authorization: Basic {token}" in web.requests[0]
    assert result.passing and result.output.startswith("HTTP GET http://probe:xxxxx@127.0.0.1:")
    assert "cret" not in result.output


def test_https_verifies_the_certificate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A self-signed certificate fails the check, until SSL_CERT_FILE names it as a CA."""
    cert, key = self_signed_certificate(tmp_path, "127.0.0.1")
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(cert, key)

    async def scenario() -> tuple[CheckResult, CheckResult]:
        async with serve(server_side) as web:
            refused = await http_check(f"{web.url}/ok", 5)
            monkeypatch.setenv("SSL_CERT_FILE", str(cert))
            return refused, await http_check(f"{web.url}/ok", 5)

    refused, trusted = run(scenario)
    assert not refused.passing and "certificate verify failed" in refused.output
    assert trusted.passing and trusted.output.endswith(": 200 OK Output: answer 200")


def test_http_method_headers_and_tls_skip_verify(tmp_path: Path) -> None:
    """`method` and `header` shape the request (a header replaces pilot's own of that name);
    `verify=False` (tls_skip_verify) accepts a self-signed certificate."""
    cert, key = self_signed_certificate(tmp_path, "127.0.0.1")
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(cert, key)
    headers = (("X-Probe", "pilot"), ("User-Agent", "lb-check/1"))

    async def scenario() -> tuple[Web, CheckResult, CheckResult]:
        async with serve(server_side) as web:
            verified = await http_check(f"{web.url}/ok", 5)
            unverified = await http_check(
                f"{web.url}/ok", 5, method="POST", headers=headers, verify=False
            )
            return web, verified, unverified

    web, verified, unverified = run(scenario)
    assert not verified.passing and "certificate verify failed" in verified.output
    assert unverified.passing and unverified.output.startswith("HTTP POST https://127.0.0.1:")
    head = web.requests[-1]
    assert head[0] == "POST /ok HTTP/1.1"
    assert "X-Probe: pilot" in head and "User-Agent: lb-check/1" in head
    assert "User-Agent: pilot health check" not in head and "Content-Length: 0" in head


def test_tcp_listening_passes() -> None:
    """A port with a listener passes with Consul's output."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        address = f"127.0.0.1:{listener.getsockname()[1]}"
        assert run(lambda: tcp_check(address, 2)) == CheckResult(
            True, f"TCP connect {address}: Success"
        )


def test_tcp_closed_fails() -> None:
    """A port nobody listens on fails with the reason."""
    address = f"127.0.0.1:{closed_port()}"
    result = run(lambda: tcp_check(address, 2))
    assert result == CheckResult(False, f"TCP connect {address}: Connection refused")


def test_tcp_timeout() -> None:
    """A connection the listener never takes fails after the timeout."""
    with socket.socket() as listener, socket.socket() as first:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)  # one connection fills the queue; later SYNs are dropped
        first.connect(listener.getsockname())
        address = f"127.0.0.1:{listener.getsockname()[1]}"
        result = run(lambda: tcp_check(address, 0.3))
    assert result == CheckResult(False, f"TCP connect {address}: timed out after 0.3s")


def test_tcp_ipv6_in_brackets() -> None:
    """[::1]:port is an IPv6 address and port; without brackets it is refused as ambiguous."""
    try:
        listener = socket.create_server(("::1", 0), family=socket.AF_INET6)
    except OSError as error:
        pytest.skip(f"no IPv6 loopback here: {error}")
    with listener:
        address = f"[::1]:{listener.getsockname()[1]}"
        assert run(lambda: tcp_check(address, 2)).passing
    unbracketed = run(lambda: tcp_check("::1:80", 2))
    assert not unbracketed.passing and "brackets" in unbracketed.output
    assert run(lambda: tcp_check("80", 2)) == CheckResult(False, "TCP connect 80: not host:port")


@pytest.fixture
def spawned(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[subprocess.Popen[bytes]]]:
    """The Popen objects exec_check makes (the real spawn, observed)."""
    made: list[subprocess.Popen[bytes]] = []
    real = checks.spawn

    def observe(request: Any) -> subprocess.Popen[bytes]:
        made.append(real(request))
        return made[-1]

    monkeypatch.setattr(checks, "spawn", observe)
    yield made


def with_reaper(make: Callable[[Reaper], Awaitable[T]]) -> T:
    """Run `make(reaper)` on a loop whose SIGCHLD goes to a real Reaper."""

    async def scenario() -> T:
        loop = asyncio.get_running_loop()
        reaper = Reaper()
        loop.add_signal_handler(signal.SIGCHLD, reaper.reap)
        try:
            return await make(reaper)
        finally:
            loop.remove_signal_handler(signal.SIGCHLD)

    return asyncio.run(scenario())


def sh(script: str, timeout: float = 5, cwd: str | None = None) -> CheckResult:
    return with_reaper(lambda r: exec_check(("sh", "-c", script), timeout, r, ENV, cwd))


def gone(pid: int) -> bool:
    """The process has exited (a zombie waiting for someone else's waitpid counts)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_exec_exit_0_passes_with_its_output(spawned: list[subprocess.Popen[bytes]]) -> None:
    """Exit 0 passes with stdout as the output; pilot sets the Popen's returncode itself."""
    assert sh("echo fine") == CheckResult(True, "fine")
    assert spawned[0].returncode == 0


def test_exec_failure_says_the_code(spawned: list[subprocess.Popen[bytes]]) -> None:
    """Another exit code fails; the output starts with it, then stdout and stderr."""
    result = sh("echo out; echo err >&2; exit 3")
    assert not result.passing
    first, *rest = result.output.split("\n")
    assert first == "exit 3" and sorted(rest) == ["err", "out"]
    assert spawned[0].returncode == 3


def test_exec_env_and_cwd(tmp_path: Path) -> None:
    """The check gets the environment and working directory it is given."""
    result = with_reaper(
        lambda r: exec_check(
            ("sh", "-c", 'echo "$GREETING"; pwd'), 5, r, {**ENV, "GREETING": "hi"}, str(tmp_path)
        )
    )
    assert result == CheckResult(True, f"hi\n{tmp_path}")


def test_exec_timeout_kills_the_group(spawned: list[subprocess.Popen[bytes]]) -> None:
    """Past its timeout the check fails and its whole process group is SIGKILLed."""
    started = time.monotonic()
    result = sh("sleep 60 & echo $!; sleep 60", timeout=0.5)
    assert time.monotonic() - started < scaled(5)
    heading, child = result.output.split("\n")
    assert not result.passing and heading == "timed out after 0.5s"
    assert spawned[0].returncode == -signal.SIGKILL
    wait_for(lambda: gone(int(child)), message="the check's background child to die")


def test_exec_leftovers_do_not_hold_the_result() -> None:
    """A background child holding the pipe does not delay the result, and is killed."""
    started = time.monotonic()
    result = sh("sleep 60 & echo $!")
    assert time.monotonic() - started < scaled(5) and result.passing
    wait_for(lambda: gone(int(result.output)), message="the check's leftover child to die")


def test_exec_cancelled_kills_the_group(
    tmp_path: Path, spawned: list[subprocess.Popen[bytes]]
) -> None:
    """Cancelling a running check kills its process group, and the reaper still collects it."""
    pidfile = tmp_path / "pid"

    async def scenario(reaper: Reaper) -> None:
        script = f"sleep 60 & echo $! > {pidfile}; sleep 60"
        task = asyncio.create_task(exec_check(("sh", "-c", script), 30, reaper, ENV))
        deadline = time.monotonic() + scaled(5)
        while not (pidfile.exists() and pidfile.read_text().strip()):
            assert time.monotonic() < deadline, "the check never started"
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        while spawned[0].returncode is None:
            assert time.monotonic() < deadline, "the reaper never collected the check"
            await asyncio.sleep(0.01)

    with_reaper(scenario)
    assert spawned[0].returncode == -signal.SIGKILL
    wait_for(lambda: gone(int(pidfile.read_text())), message="the check's child to die")


def test_exec_output_is_at_most_4k() -> None:
    """A chatty check is read to the end but only 4 KiB of its output is kept."""
    result = sh("yes | head -n 500000; head -c 1000000 /dev/zero | tr '\\0' x")
    assert result.passing and len(result.output) == 4096
    assert result.output.startswith("y\ny\n")


def test_exec_missing_command_fails() -> None:
    """A command that does not exist fails the check instead of raising."""
    result = with_reaper(lambda r: exec_check(("/no/such/check",), 5, r, ENV))
    assert result == CheckResult(False, "cannot run /no/such/check: No such file or directory")
