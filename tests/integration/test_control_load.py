"""The control socket under load: a burst of clients waits its turn rather than being refused,
and slow clients do not delay a quick one."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

from tests.helpers import Pilot, python_job, wait_for

IDLE = python_job("""
    import time
    while True:
        time.sleep(60)
""")
PING = b"GET /v3/ping HTTP/1.1\r\nHost: pilot\r\n\r\n"


def start(pilot: Callable[..., Pilot]) -> Pilot:
    p = pilot({"jobs": [{"name": "app", "main": True, "exec": IDLE}]})
    wait_for(lambda: p.socket.exists(), 10, message="the control socket")
    return p


async def _ping(path: Path) -> bytes:
    """One ping on a connection of its own; the answer, or b"" when pilot closed first."""
    try:
        reader, writer = await asyncio.open_unix_connection(str(path))
    except OSError as error:
        return f"connect: {error}".encode()
    try:
        writer.write(PING)
        return await reader.read()
    except ConnectionError:
        return b""
    finally:
        writer.close()


def test_a_burst_of_200_clients_is_answered_whole(pilot: Callable[..., Pilot]) -> None:
    """200 clients at once (a script's loop in parallel) are all answered: over the cap they
    wait in the listen backlog, none is closed unanswered."""
    p = start(pilot)

    async def burst() -> list[bytes]:
        async with asyncio.timeout(60):
            return await asyncio.gather(*(_ping(p.socket) for _ in range(200)))

    answers = asyncio.run(burst())
    refused = [answer for answer in answers if not answer.startswith(b"HTTP/1.1 200 ")]
    assert not refused, f"{len(refused)} of 200 unanswered, e.g. {refused[0]!r}"
    assert all(answer.endswith(b"\r\n\r\nok\n") for answer in answers)


def test_300_slow_clients_do_not_delay_a_ping(pilot: Callable[..., Pilot]) -> None:
    """300 clients trickle their request heads a byte at a time; a ping meanwhile is answered
    at once, not after their deadlines."""
    p = start(pilot)

    async def trickle(ready: asyncio.Event, count: list[int]) -> None:
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_unix_connection(str(p.socket))
            count[0] += 1
            if count[0] == 300:
                ready.set()
            try:
                for byte in b"GET /v3/ping HTTP/1.1\r\nX: " + b"a" * 100:
                    writer.write(bytes([byte]))
                    await writer.drain()
                    await asyncio.sleep(0.5)
            finally:
                writer.close()

    async def scenario() -> tuple[bytes, float]:
        ready, count = asyncio.Event(), [0]
        slow = [asyncio.create_task(trickle(ready, count)) for _ in range(300)]
        try:
            async with asyncio.timeout(30):
                await ready.wait()
            started = time.monotonic()
            async with asyncio.timeout(30):
                answer = await _ping(p.socket)
            return answer, time.monotonic() - started
        finally:
            for task in slow:
                task.cancel()
            await asyncio.gather(*slow, return_exceptions=True)

    answer, elapsed = asyncio.run(scenario())
    assert answer.startswith(b"HTTP/1.1 200 "), answer
    assert elapsed < 5, f"the ping waited {elapsed:.1f}s behind slow clients"


def test_a_long_poll_ends_when_its_client_hangs_up(pilot: Callable[..., Pilot]) -> None:
    """`pilot logs -f` interrupted: pilot ends the held poll at once, not when its wait ends
    (the connection's socket is closed on pilot's side)."""
    p = start(pilot)
    before = _sockets(p.proc.pid)
    held: set[str] = set()
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(p.socket))
        sock.sendall(b"GET /v1/logs?after=1000000&wait=60 HTTP/1.1\r\nHost: pilot\r\n\r\n")
        wait_for(lambda: held.update(_sockets(p.proc.pid) - before) or held, 10, message="a poll")
    wait_for(
        lambda: not held & _sockets(p.proc.pid), 10, message="pilot to end the poll it held"
    )


def _sockets(pid: int) -> set[str]:
    """The sockets process `pid` has open (`socket:[inode]`)."""
    links = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            links.add(os.readlink(fd))
    return {link for link in links if link.startswith("socket:")}
