"""Fixtures shared by every test directory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Pilot, Registry, real_consul, scaled


def pytest_report_header() -> str:
    """Which registry the `registry` fixture starts, so a run says what it was run against."""
    consul = real_consul()
    return f"registry: real Consul {consul}" if consul else "registry: pilot consul-dev"


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """pytest-timeout's limit (the ini default, --timeout, or a test's own marker) scaled by
    PILOT_TEST_TIMEOUT_SCALE like every other deadline: the scaled marker goes first, so it is
    the one pytest-timeout reads."""
    default = config.getoption("timeout", None) or config.getini("timeout")
    for item in items:
        marker = item.get_closest_marker("timeout")
        seconds = marker.args[0] if marker is not None and marker.args else default
        if seconds:
            item.add_marker(pytest.mark.timeout(scaled(float(seconds))), append=False)


@pytest.fixture
def pilot(tmp_path: Path) -> Iterator[Callable[..., Pilot]]:
    """Start real pilot processes in the test's directory; all are killed afterwards."""
    started: list[Pilot] = []

    def start(config: dict[str, Any] | str, **kwargs: Any) -> Pilot:
        instance = Pilot(config, tmp_path, **kwargs)
        started.append(instance)
        return instance

    yield start
    for instance in started:
        instance.stop()


@pytest.fixture
def registry() -> Iterator[Registry]:
    """A real registry on a free port: real Consul when `real_consul()` names one, else
    `pilot consul-dev`."""
    instance = Registry()
    yield instance
    instance.stop()
