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


# Files whose tests may not run at the same time as each other's on parallel workers: both
# build this checkout with setuptools, which writes build/ and *.egg-info into it.
SHARED_GROUPS = {
    "tests/e2e/test_bundle.py": "builds-the-checkout",
    "tests/integration/test_distribution.py": "builds-the-checkout",
}


def pytest_itemcollected(item: pytest.Item) -> None:
    """Under pytest-xdist's `--dist loadgroup` a file's tests run on one worker, in order: its
    module-scoped fixtures (a bundle, a wheel, a replayed scenario) are made once, and tests
    that use the same fixed addresses (the nginx example's backends) never overlap. Files of
    a SHARED_GROUPS group run on one worker too."""
    if not item.config.pluginmanager.hasplugin("xdist"):
        return
    path = item.nodeid.split("::", 1)[0]
    item.add_marker(pytest.mark.xdist_group(SHARED_GROUPS.get(path, path)))


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
