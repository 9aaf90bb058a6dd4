"""GET /v1/agent/monitor: log lines streamed as written; the level validated."""

from __future__ import annotations

import logging

import pytest
import requests

from tests.devconsul.conftest import Api
from tests.helpers import scaled, wait_for


def test_monitor_streams_log_lines(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    """A monitor at WARN streams the warnings logged after it opened, in hclog's format."""
    caplog.set_level(logging.INFO, "pilot.devconsul")
    log = logging.getLogger("pilot.devconsul")
    with requests.get(
        api.url + "/v1/agent/monitor", params={"loglevel": "warn"}, stream=True, timeout=scaled(10)
    ) as response:
        assert response.status_code == 200
        lines = response.iter_lines()
        monitors = api.registry.log_streams
        wait_for(lambda: monitors.open, 5, message="the monitor attached")
        log.info("not at this level")
        log.warning("something to see")
        line = next(lines).decode()
        assert line.endswith(" [WARN]  agent: something to see")
        assert line[:4].isdigit() and "T" in line[:20]
    wait_for(lambda: not api.registry.log_streams.open, 5, message="the monitor detached")


def test_monitor_json(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    """?logjson streams one JSON object a line."""
    caplog.set_level(logging.INFO, "pilot.devconsul")
    with requests.get(
        api.url + "/v1/agent/monitor", params={"logjson": ""}, stream=True, timeout=scaled(10)
    ) as response:
        wait_for(lambda: api.registry.log_streams.open, 5, message="the monitor attached")
        logging.getLogger("pilot.devconsul").info("hello")
        assert b'"@message": "hello"' in next(response.iter_lines())


def test_unknown_level_is_400(api: Api) -> None:
    """An unknown loglevel is Consul's 400."""
    response = api.get("/v1/agent/monitor", loglevel="loud")
    assert (response.status_code, response.text) == (400, "Unknown log level: loud")
