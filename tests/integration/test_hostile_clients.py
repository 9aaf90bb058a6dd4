"""The control socket and telemetry under hostile clients: many idle connections, slow clients,
oversized heads, deeply nested JSON, failing handlers."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import resource
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pilot.http.limits import Limits
from pilot.http.messages import Request, Response
from pilot.http.server import Server
from pilot.log import Log
from tests.helpers import Pilot, python_job, read_lines, require, scaled, wait_for

IDLE = python_job("""
    import time
    while True:
        time.sleep(60)
""")
TICK = ["/bin/sh", "-c", 'echo tick >> "$0"']
HALF_SENT = b"GET /metrics HTTP/1.1\r\nHost: pilot\r\n"  # no blank line: the head never ends


def config(tmp_path: Path, port: int, level: str = "info") -> dict[str, Any]:
    return {
        "logging": {"level": level},
        "jobs": [
            {"name": "app", "main": True, "exec": IDLE},
            {
                "name": "tick",
                "exec": [*TICK, str(tmp_path / "ticks")],
                "when": {"interval": "0.2s"},
            },
        ],
        "telemetry": {"port": port, "interfaces": ["static:127.0.0.1"]},
    }


def start(pilot: Callable[..., Pilot], tmp_path: Path, level: str = "info") -> tuple[Pilot, int]:
    port = _free_port()
    p = pilot(config(tmp_path, port, level))
    p.wait_for_output("telemetry on", 10)
    wait_for(lambda: read_lines(tmp_path / "ticks"), 10, message="the periodic job ran")
    return p, port


@pytest.mark.slow
def test_idle_connections_leave_jobs_and_ctl_working(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    """Started with a soft open-file limit of 1024, pilot raises it, keeps 1,100 half-sent
    telemetry requests to its connection cap, and goes on running jobs and answering pilot ctl."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    require(hard >= 2048, f"the hard open-file limit ({hard}) is too low to open 1,000 sockets")
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))  # what pilot inherits
    try:
        p, port = start(pilot, tmp_path)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 2048), hard))
    assert _open_file_limits(p.proc.pid) == (hard, hard)
    before = _fd_count(p.proc.pid)
    with _idle_connections(port, 1100) as opened:
        assert opened == 1100
        ticks = len(read_lines(tmp_path / "ticks"))
        wait_for(
            lambda: len(read_lines(tmp_path / "ticks")) >= ticks + 3,
            5,
            message=f"the periodic job to run on\n{p.output}",
        )
        started = time.monotonic()
        assert p.ctl("ping").stdout.strip() == "ok"
        assert time.monotonic() - started < scaled(5)
        assert _fd_count(p.proc.pid) <= before + 64 + 16
    assert "Too many open files" not in p.output
    assert b"Traceback" not in p.raw("stderr")


@pytest.mark.slow
def test_slow_client_is_dropped_after_the_deadline(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    """A client that trickles its request a byte at a time is closed after 10 s, unanswered,
    with one debug line."""
    p, port = start(pilot, tmp_path, level="debug")
    request = b"GET /metrics HTTP/1.1\r\n" + b"X: " + b"a" * 100
    with socket.create_connection(("127.0.0.1", port), timeout=scaled(5)) as sock:
        sock.settimeout(0.5)  # paces the trickle and waits for the close at once
        started, answer = time.monotonic(), b"?"
        for byte in request:  # bounded: 126 bytes, one each 0.5 s at most
            try:
                answer = sock.recv(1024)
                break
            except ConnectionResetError:  # a byte was still unread when pilot closed
                answer = b""
                break
            except TimeoutError:
                with contextlib.suppress(ConnectionError):
                    sock.send(bytes([byte]))
        elapsed = time.monotonic() - started
    assert answer == b"", answer
    assert 9 < elapsed < 10 + scaled(1.5), elapsed
    p.wait_for_output(r"telemetry: closed 127\.0\.0\.1:\d+: no whole request within 10s")
    assert p.output.count("no whole request") == 1
    assert b"Traceback" not in p.raw("stderr")


@pytest.mark.parametrize("server", ["telemetry", "control socket"])
def test_oversized_head_is_answered_431(
    pilot: Callable[..., Pilot], tmp_path: Path, server: str
) -> None:
    """A request with a 65 KiB header is answered 431, with one debug line."""
    p, port = start(pilot, tmp_path, level="debug")
    request = b"GET /status HTTP/1.1\r\nX-Big: " + b"a" * (65 << 10) + b"\r\n\r\n"
    if server == "telemetry":
        answer = _exchange(
            socket.create_connection(("127.0.0.1", port), timeout=scaled(10)), request
        )
    else:
        answer = _exchange(_unix(p.socket), request)
    assert answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"), answer[:200]
    assert b"request head over 65536 bytes" in answer
    p.wait_for_output(f"{server}: .*: 431 request head over 65536 bytes")
    assert p.output.count("request head over") == 1
    assert b"Traceback" not in p.raw("stderr")


def test_deeply_nested_json_is_answered_400(pilot: Callable[..., Pilot], tmp_path: Path) -> None:
    """POST /v3/environ with JSON nested 100,000 deep is a 400 naming the limit, and the control
    socket answers on."""
    p, _ = start(pilot, tmp_path)
    body = b'{"A": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    head = f"POST /v3/environ HTTP/1.1\r\nHost: pilot\r\nContent-Length: {len(body)}\r\n\r\n"
    answer = _exchange(_unix(p.socket), head.encode() + body)
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer[:200]
    assert b"nested deeper than 64 levels" in answer
    assert p.ctl("ping").stdout.strip() == "ok"
    assert b"Traceback" not in p.raw("stderr")


def test_failing_handler_answers_500_in_one_log_line() -> None:
    """A handler that raises unexpectedly answers 500 and logs one line, no traceback."""
    stderr = io.StringIO()
    log = Log(stderr=stderr)

    async def fail(request: Request) -> Response:
        raise KeyError("boom")

    async def ask() -> bytes:
        server = Server(fail, "test", Limits(max_connections=4), log)
        await server.listen_tcp("127.0.0.1", 0)
        try:
            port = server.addresses[0][1]
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /x HTTP/1.1\r\nHost: test\r\n\r\n")
            answer = await asyncio.wait_for(reader.read(), 10)
            writer.close()
            return answer
        finally:
            await server.close()

    answer = asyncio.run(ask())
    assert answer.startswith(b"HTTP/1.1 500 Internal Server Error\r\n"), answer
    lines = stderr.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].endswith("test: GET /x failed: KeyError: 'boom'"), lines


@contextlib.contextmanager
def _idle_connections(port: int, count: int) -> Iterator[int]:
    """Open up to `count` connections that each send half a request head; yields how many opened
    (a connection pilot closed at once counts: it cost pilot nothing)."""
    sockets: list[socket.socket] = []
    deadline = time.monotonic() + scaled(30)
    try:
        for _ in range(count):  # bounded by count and by the deadline
            if time.monotonic() > deadline:
                break
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=scaled(2))
            except OSError:
                continue
            sockets.append(sock)
            with contextlib.suppress(OSError):  # pilot may have closed it already
                sock.sendall(HALF_SENT)
        yield len(sockets)
    finally:
        for sock in sockets:
            sock.close()


def _exchange(sock: socket.socket, request: bytes) -> bytes:
    """Send `request` and read the answer until pilot closes the connection."""
    with sock:
        sock.settimeout(scaled(15))
        with contextlib.suppress(OSError):  # pilot may answer before it has read it all
            sock.sendall(request)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            pass
        return b"".join(chunks)


def _unix(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(scaled(10))
    sock.connect(str(path))
    return sock


def _fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _open_file_limits(pid: int) -> tuple[int, int]:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise AssertionError(f"no open-file limit in /proc/{pid}/limits")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
