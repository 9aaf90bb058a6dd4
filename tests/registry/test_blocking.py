"""Blocking queries behave like Consul's: per-resource indexes, wake on change, wait otherwise."""

from __future__ import annotations

import threading
import time
from typing import Any

import requests


def put(url: str, body: dict[str, Any]) -> None:
    requests.put(f"{url}/v1/agent/service/register", json=body, timeout=5).raise_for_status()


def index_of(url: str, path: str) -> int:
    return int(requests.get(url + path, timeout=5).headers["X-Consul-Index"])


def background_get(url: str, path: str, params: dict[str, str]) -> dict[str, Any]:
    """Start a blocking GET; the dict fills with 'index' and 'elapsed' when it returns."""
    result: dict[str, Any] = {}

    def run() -> None:
        started = time.monotonic()
        response = requests.get(url + path, params=params, timeout=30)
        result["index"] = int(response.headers["X-Consul-Index"])
        result["elapsed"] = time.monotonic() - started

    result["thread"] = threading.Thread(target=run, daemon=True)
    result["thread"].start()
    return result


def test_watch_on_a_wakes_on_a_and_not_on_b(url: str) -> None:
    """A blocking query on service A returns on a change to A, not on one to B."""
    put(url, {"Name": "a", "ID": "a1"})
    put(url, {"Name": "b", "ID": "b1"})
    index = index_of(url, "/v1/health/service/a")
    watcher = background_get(url, "/v1/health/service/a", {"index": str(index), "wait": "3s"})
    put(url, {"Name": "b", "ID": "b2"})
    watcher["thread"].join(0.5)
    assert "index" not in watcher, "woken by a change to another service"
    put(url, {"Name": "a", "ID": "a2"})
    watcher["thread"].join(1)
    assert watcher["index"] > index and watcher["elapsed"] < 1.5


def test_hundred_watchers_wake_on_one_change(url: str) -> None:
    """100 concurrent blocking queries all return after one change."""
    put(url, {"Name": "many", "ID": "m1"})
    index = index_of(url, "/v1/health/service/many")
    watchers = [
        background_get(url, "/v1/health/service/many", {"index": str(index), "wait": "10s"})
        for _ in range(100)
    ]
    # A watcher that had not blocked yet sees the newer index at once: either way it returns.
    put(url, {"Name": "many", "ID": "m2"})
    for watcher in watchers:
        watcher["thread"].join(5)
    assert all(w.get("index", 0) > index for w in watchers)


def test_future_and_equal_index_wait_for_the_wait(url: str) -> None:
    """An equal or future index waits the whole `wait` and returns the current index."""
    put(url, {"Name": "f", "ID": "f1"})
    index = index_of(url, "/v1/health/service/f")
    started = time.monotonic()
    response = requests.get(
        f"{url}/v1/health/service/f", params={"index": str(index + 1000), "wait": "1s"}, timeout=10
    )
    elapsed = time.monotonic() - started
    assert 1.0 <= elapsed < 1.0 + 1 / 16 + 0.5
    assert int(response.headers["X-Consul-Index"]) == index


def test_bad_blocking_parameters(url: str) -> None:
    """A unitless wait or a non-numeric index is a 400 with Consul's text."""
    bad_wait = requests.get(
        f"{url}/v1/health/service/x", params={"index": "1", "wait": "10"}, timeout=5
    )
    assert bad_wait.status_code == 400 and bad_wait.text.strip() == "Invalid wait time"
    bad_index = requests.get(f"{url}/v1/health/service/x", params={"index": "x"}, timeout=5)
    assert bad_index.status_code == 400 and bad_index.text.strip() == "Invalid index"
