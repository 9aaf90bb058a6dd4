"""consul-dev as a process: its command line, and a soak under mixed load."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.helpers import PYTHON, REPO, Registry, wait_for


def test_cli_prints_its_address_and_stops_on_sigterm() -> None:
    """`pilot consul-dev --listen 127.0.0.1:0` prints host:port first and exits 0 on SIGTERM."""
    proc = subprocess.Popen(
        [PYTHON, "-m", "pilot", "consul-dev", "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.stdout is not None
    address = proc.stdout.readline().strip()
    assert requests.get(f"http://{address}/v1/status/leader", timeout=5).json() == "127.0.0.1:8300"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0


def _threads_and_rss(pid: int) -> tuple[int, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines())
    return int(fields["Threads"]), int(fields["VmRSS"].split()[0])


@pytest.mark.slow
def test_soak_leaves_no_thread_or_memory_growth() -> None:
    """10 000 mixed requests from 20 threads, with blocking watchers open, leave the registry's
    threads where they were and its memory within 40 MB of where it started."""
    registry = Registry()
    assert registry.proc is not None
    pid, url = registry.proc.pid, registry.url
    try:
        session = requests.Session()
        session.get(url + "/v1/status/leader", timeout=5)
        base_threads, base_rss = _threads_and_rss(pid)
        stop = threading.Event()

        def watcher(name: str) -> None:
            index = 1
            with requests.Session() as own:
                while not stop.is_set():
                    response = own.get(
                        f"{url}/v1/health/service/{name}",
                        params={"index": str(index), "wait": "1s"},
                        timeout=10,
                    )
                    index = int(response.headers["X-Consul-Index"])

        watchers = [threading.Thread(target=watcher, args=(f"svc{i}",)) for i in range(5)]
        for thread in watchers:
            thread.start()

        def work(n: int) -> None:
            with requests.Session() as own:
                for i in range(500):
                    name = f"svc{random.randrange(10)}"
                    choice = (n + i) % 5
                    if choice == 0:
                        own.put(
                            f"{url}/v1/agent/service/register",
                            json={
                                "Name": name,
                                "ID": f"{name}-{n}",
                                "Port": i,
                                "Check": {"TTL": "30s", "Status": "passing"},
                            },
                            timeout=10,
                        )
                    elif choice == 1:
                        own.put(f"{url}/v1/kv/soak/{n}/{i % 20}", data=b"x" * 100, timeout=10)
                    elif choice == 2:
                        own.get(f"{url}/v1/kv/soak/", params={"recurse": ""}, timeout=10)
                    elif choice == 3:
                        own.put(f"{url}/v1/agent/check/pass/service:{name}-{n}", timeout=10)
                    else:
                        own.get(f"{url}/v1/health/service/{name}", timeout=10)

        with ThreadPoolExecutor(20) as pool:
            list(pool.map(work, range(20)))
        stop.set()
        for thread in watchers:
            thread.join(10)
        wait_for(
            lambda: _threads_and_rss(pid)[0] <= base_threads + 1, 10, message="request threads gone"
        )
        threads, rss = _threads_and_rss(pid)
        assert threads <= base_threads + 1
        assert rss - base_rss < 40_000, f"RSS grew by {(rss - base_rss) / 1000:.1f} MB"
    finally:
        registry.stop()
