"""Fixtures shared by every test directory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Pilot, Registry


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
    """A real `pilot consul-dev` on a free port."""
    instance = Registry()
    yield instance
    instance.stop()
