"""Health is pilot's own: checked with or without Consul, and turned into events."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.helpers import Pilot, read_lines, wait_for


def test_health_without_consul_emits_healthy_and_unhealthy(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    """A job with `health` and no Consul is checked: `healthy` starts the job waiting for it,
    and `unhealthy` (once the check fails) starts the one waiting for that."""
    flag = tmp_path / "ok"
    flag.touch()
    config = {
        "jobs": [
            {
                "name": "app",
                "exec": ["sleep", "30"],
                "main": True,
                "health": {"exec": ["test", "-e", str(flag)], "interval": "200ms", "ttl": "1s"},
            },
            {
                "name": "on-healthy",
                "exec": ["sh", "-c", f"echo healthy >> {tmp_path / 'events'}"],
                "when": {"source": "app", "once": "healthy"},
            },
            {
                "name": "on-unhealthy",
                "exec": ["sh", "-c", f"echo unhealthy >> {tmp_path / 'events'}"],
                "when": {"source": "app", "once": "unhealthy"},
            },
        ]
    }
    p = pilot(config)
    wait_for(
        lambda: read_lines(tmp_path / "events") == ["healthy"],
        10,
        message=f"healthy emitted without Consul\n{p.output}",
    )
    flag.unlink()
    wait_for(
        lambda: read_lines(tmp_path / "events") == ["healthy", "unhealthy"],
        10,
        message=f"unhealthy emitted without Consul\n{p.output}",
    )
    jobs = json.loads(p.ctl("status", "--json").stdout)["jobs"]
    assert [job["health"] for job in jobs if job["name"] == "app"] == ["unhealthy"]


def test_failures_before_the_first_success_are_not_warnings(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    """While the app starts (its check fails until it is up), pilot logs no `unhealthy` at
    info level; once it has passed, a failure is logged."""
    flag = tmp_path / "up"
    config = {
        "jobs": [
            {
                "name": "app",
                "main": True,
                "exec": ["sh", "-c", f"sleep 1; touch {flag}; exec sleep 300"],
                "health": {"exec": ["test", "-e", str(flag)], "interval": "200ms", "ttl": "1s"},
            }
        ]
    }
    p = pilot(config)
    p.wait_for_output(r"app is healthy", 10)
    assert "app is unhealthy" not in p.output, p.output
    flag.unlink()
    p.wait_for_output(r"app is unhealthy", 10)
