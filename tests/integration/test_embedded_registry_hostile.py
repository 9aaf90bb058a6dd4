"""A registry embedded in pilot never holds pilot: flooded with hostile registry requests
(catastrophic regular expressions, DNS garbage, hundreds of idle connections), pilot keeps
answering its control socket and its job's health check keeps passing."""

from __future__ import annotations

import contextlib
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import requests

from tests.helpers import Pilot, python_job, wait_for

IDLE = python_job("""
    import time
    while True:
        time.sleep(60)
""")
BOUND = 3.0  # seconds a status answer may take under the flood (it takes milliseconds)


def free_port() -> int:
    """A port free on TCP and UDP at 127.0.0.1 (the registry's DNS takes both)."""
    while True:
        with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(port)


@contextlib.contextmanager
def flood(http: str, dns_port: int, stop: threading.Event) -> Iterator[list[int]]:
    """Hostile clients in threads until `stop`: regex filters, DNS garbage on UDP and TCP;
    yields the count of requests sent so far, per thread."""
    counts = [0, 0, 0]

    def regexes() -> None:
        session = requests.Session()
        while not stop.is_set():
            with contextlib.suppress(requests.RequestException):
                session.get(
                    f"{http}/v1/agent/services",
                    params={"filter": 'Meta.k matches "(a+)+$"'},
                    timeout=10,
                )
            counts[0] += 1

    def udp_garbage() -> None:
        rng = random.Random(3)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            while not stop.is_set():
                wire = rng.randbytes(rng.randrange(0, 64))
                if rng.random() < 0.5:  # a header that parses, then garbage
                    wire = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c" + wire
                sock.sendto(wire, ("127.0.0.1", dns_port))
                counts[1] += 1
                time.sleep(0.001)

    def tcp_garbage() -> None:
        rng = random.Random(4)
        while not stop.is_set():
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", dns_port), timeout=1) as sock,
            ):
                sock.sendall(b"\x00\x20" + rng.randbytes(32))
                sock.recv(512)
            counts[2] += 1

    threads = [threading.Thread(target=t, daemon=True) for t in (regexes, udp_garbage, tcp_garbage)]
    for thread in threads:
        thread.start()
    try:
        yield counts
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)


def test_hostile_registry_clients_never_hold_pilot(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    http_port, dns_port = free_port(), free_port()
    http = f"http://127.0.0.1:{http_port}"
    p = pilot(
        {
            "consul": {
                "address": "embedded",
                "listen": f"127.0.0.1:{http_port}",
                "dns": f"127.0.0.1:{dns_port}",
            },
            "jobs": [
                {
                    "name": "app",
                    "exec": IDLE,
                    "port": 8080,
                    "interfaces": ["static:127.0.0.1"],
                    "health": {"exec": ["true"], "interval": "200ms", "ttl": "1s"},
                }
            ],
        }
    )

    def healthy() -> bool:
        jobs = {job["name"]: job for job in p.status()["jobs"]}
        return jobs["app"]["health"] == "healthy"

    wait_for(lambda: p.socket.exists() and healthy(), 15, message=f"app healthy\n{p.output}")
    long_value = "a" * 500 + "!"  # Python's `re` would backtrack on it for ages
    registered = requests.put(
        f"{http}/v1/agent/service/register",
        json={"Name": "bait", "Meta": {"k": long_value}},
        timeout=10,
    )
    assert registered.status_code == 200
    idle = [socket.create_connection(("127.0.0.1", dns_port)) for _ in range(300)]
    idle += [socket.create_connection(("127.0.0.1", http_port)) for _ in range(150)]
    stop = threading.Event()
    slowest = 0.0
    try:
        with flood(http, dns_port, stop) as counts:
            deadline = time.monotonic() + 8
            while time.monotonic() < deadline:
                started = time.monotonic()
                assert healthy(), f"the health check stopped passing\n{p.output}"
                slowest = max(slowest, time.monotonic() - started)
                time.sleep(0.1)
            ping = p.ctl("ping")
        assert ping.stdout.strip() == "ok", ping.stderr
        assert slowest < BOUND, f"a status answer took {slowest:.1f}s"
        assert min(counts) > 5, f"the flood did not run: {counts}"
    finally:
        stop.set()
        for sock in idle:
            sock.close()
    answer = requests.get(f"{http}/v1/agent/services", timeout=10)
    assert "bait" in answer.json()
    assert "Traceback" not in p.output
