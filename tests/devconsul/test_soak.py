"""A soak: mixed load with blocking watchers open must leave no thread or memory growth."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.helpers import scaled, wait_for

REPO = Path(__file__).resolve().parents[2]
REQUESTS, CLIENTS = 10_000, 20
THREAD_SLACK = 2  # threads may end a moment after their connection closes
RSS_BOUND_KB = 20_000


def _threads_and_rss(pid: int) -> tuple[int, int]:
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(fields["Threads"]), int(fields["VmRSS"].split()[0])


def _work(url: str, client: int) -> None:
    """One client's share: registrations, TTL passes, KV writes and reads, health reads."""
    rng = random.Random(client)
    with requests.Session() as http:
        for i in range(REQUESTS // CLIENTS):
            name = f"svc{rng.randrange(10)}"
            kind = (client + i) % 6
            if kind == 0:
                body = {"Name": name, "ID": f"{name}-{client}", "Port": i, "Check": {"TTL": "30s"}}
                response = http.put(
                    f"{url}/v1/agent/service/register", json=body, timeout=scaled(10)
                )
            elif kind == 1:
                response = http.put(
                    f"{url}/v1/agent/check/pass/service:{name}-{client}", timeout=scaled(10)
                )
            elif kind == 2:
                response = http.put(
                    f"{url}/v1/kv/soak/{client}/{i % 20}", data=b"x" * 100, timeout=scaled(10)
                )
            elif kind == 3:
                response = http.get(
                    f"{url}/v1/kv/soak/", params={"recurse": ""}, timeout=scaled(10)
                )
            elif kind == 4:
                response = http.get(f"{url}/v1/health/service/{name}", timeout=scaled(10))
            else:
                response = http.delete(f"{url}/v1/kv/soak/{client}/{i % 20}", timeout=scaled(10))
            assert response.status_code in (200, 404), response.text


@pytest.mark.slow
def test_soak_leaves_no_thread_or_memory_growth() -> None:
    """10 000 mixed requests from 20 threads, with blocking watchers open throughout, leave
    the registry with at most 2 more threads than before and at most 20 MB more RSS."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pilot.devconsul", "--listen", "127.0.0.1:0", "--dns", "off"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert proc.stdout is not None
        url = "http://" + proc.stdout.readline().strip()
        requests.get(url + "/v1/status/leader", timeout=scaled(5)).raise_for_status()
        base_threads, base_rss = _threads_and_rss(proc.pid)
        stop = threading.Event()

        def watcher(path: str) -> None:
            index = 1
            with requests.Session() as http:
                while not stop.is_set():
                    response = http.get(
                        url + path, params={"index": str(index), "wait": "1s"}, timeout=scaled(10)
                    )
                    index = int(response.headers["X-Consul-Index"])

        paths = [f"/v1/health/service/svc{i}" for i in range(5)] + ["/v1/kv/soak/?recurse"]
        watchers = [threading.Thread(target=watcher, args=(p,)) for p in paths]
        for thread in watchers:
            thread.start()
        with ThreadPoolExecutor(CLIENTS) as pool:
            list(pool.map(lambda n: _work(url, n), range(CLIENTS)))
        stop.set()
        for thread in watchers:
            thread.join(scaled(10))
        wait_for(
            lambda: _threads_and_rss(proc.pid)[0] <= base_threads + THREAD_SLACK,
            10,
            message="the request threads to end",
        )
        rss = _threads_and_rss(proc.pid)[1]
        assert rss - base_rss < RSS_BOUND_KB, f"RSS grew by {(rss - base_rss) / 1000:.1f} MB"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(scaled(10)) == 0
    finally:
        proc.kill()
        proc.wait()
