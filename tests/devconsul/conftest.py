"""Fixtures for the registry's own tests: a real consul-dev on a free port, reached over real
HTTP through py-consul and through raw requests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import consul
import pytest
import requests

from pilot.devconsul.server import DevConsul
from tests.helpers import scaled, wait_for


@dataclass
class Watch:
    """A GET running in its own thread; `response` is set when it returns."""

    thread: threading.Thread
    started: float
    response: requests.Response | None = None
    elapsed: float = 0.0
    errors: list[BaseException] = field(default_factory=list)

    @property
    def index(self) -> int:
        assert self.response is not None, "the request has not returned"
        return int(self.response.headers["X-Consul-Index"])

    def wait(self, timeout: float) -> bool:
        """Whether it returned within `timeout` seconds (scaled by PILOT_TEST_TIMEOUT_SCALE)."""
        self.thread.join(scaled(timeout))
        if self.errors:
            raise self.errors[0]
        return self.response is not None


class Api:
    """Raw HTTP to one registry: `api.get("/v1/...", index=3)` and friends."""

    def __init__(self, registry: DevConsul) -> None:
        self.registry = registry
        self.url = f"http://{registry.address}"
        self.http = requests.Session()

    def wait_blocked(self, count: int) -> None:
        """Wait until `count` queries are blocked in the registry."""
        store = self.registry.registry.store
        wait_for(lambda: store.blocked == count, 10, message=f"{count} blocked queries")

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.http.get(self.url + path, params=params, timeout=scaled(15))

    def put(
        self, path: str, json: Any = None, data: Any = None, **params: Any
    ) -> requests.Response:
        return self.http.put(
            self.url + path, params=params, json=json, data=data, timeout=scaled(15)
        )

    def delete(self, path: str, **params: Any) -> requests.Response:
        return self.http.delete(self.url + path, params=params, timeout=scaled(15))

    def register(self, body: dict[str, Any], **params: Any) -> requests.Response:
        return self.put("/v1/agent/service/register", json=body, **params)

    def index(self, path: str, **params: Any) -> int:
        return int(self.get(path, **params).headers["X-Consul-Index"])

    def watch(self, path: str, **params: Any) -> Watch:
        """Start a (blocking) GET in the background."""
        holder: list[Watch] = []

        def run() -> None:
            watch = holder[0]
            try:
                response = requests.get(self.url + path, params=params, timeout=scaled(30))
                watch.elapsed = time.monotonic() - watch.started
                watch.response = response
            except BaseException as error:  # surfaced by Watch.wait
                watch.errors.append(error)

        thread = threading.Thread(target=run, daemon=True)
        holder.append(Watch(thread, time.monotonic()))
        thread.start()
        return holder[0]


@pytest.fixture
def dev() -> Iterator[DevConsul]:
    """A registry in this process (its own threads), node "node1", fast reaper."""
    registry = DevConsul("127.0.0.1:0", node="node1", fast_reaper=True)
    registry.start()
    yield registry
    registry.stop()


@pytest.fixture
def api(dev: DevConsul) -> Api:
    return Api(dev)


@pytest.fixture
def client(dev: DevConsul) -> Any:
    """py-consul, the client pilot uses."""
    host, port = dev.address.rsplit(":", 1)
    return consul.Consul(host=host, port=int(port))
