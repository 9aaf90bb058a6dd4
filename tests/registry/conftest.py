"""Fixtures for the registry's own tests: an in-process consul-dev on a free port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pilot.devconsul.server import DevConsul


@pytest.fixture
def dev() -> Iterator[DevConsul]:
    """A running registry (in this process, on its own threads)."""
    registry = DevConsul("127.0.0.1:0", node="node1", fast_reaper=True)
    registry.start()
    yield registry
    registry.stop()


@pytest.fixture
def url(dev: DevConsul) -> str:
    return f"http://{dev.address}"


@pytest.fixture
def client(dev: DevConsul):  # type: ignore[no-untyped-def]
    import consul

    host, port = dev.address.split(":")
    return consul.Consul(host=host, port=int(port))
