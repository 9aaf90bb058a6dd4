"""pilot when Consul is not there yet, and the ACL token kept out of everything pilot prints."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    PYTHON,
    REPO,
    Pilot,
    Registry,
    holds,
    python_job,
    read_lines,
    scaled,
    wait_for,
)

TOKEN = "s3cr3t-token"
INTERVAL = 0.5

# A service that records its pid each time it starts.
WEB = python_job("""
    import os, time
    open("web.pid", "a").write(f"{os.getpid()}\\n")
    while True:
        time.sleep(60)
""")


def web_job() -> dict[str, Any]:
    return {
        "name": "web",
        "main": True,
        "exec": WEB,
        "port": 8080,
        "interfaces": ["static:127.0.0.1"],
        "health": {"exec": ["true"], "interval": f"{INTERVAL}s"},
    }


def passing(registry: Registry, service: str = "web") -> bool:
    try:
        entries = registry.instances(service, passing=True)
    except OSError:  # requests' ConnectionError: the registry is not up yet
        return False
    return len(entries) == 1


def free_address() -> str:
    """host:port of a port with nothing listening (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def late_registry() -> Iterator[list[Registry]]:
    """Registries a test starts itself; all are stopped afterwards."""
    started: list[Registry] = []
    yield started
    for registry in started:
        registry.stop()


def test_pilot_started_before_the_registry_registers_when_it_comes(
    pilot: Callable[..., Pilot], late_registry: list[Registry], tmp_path: Path
) -> None:
    """With nothing listening at the Consul address the job runs; once a registry starts
    there, the service is registered and passing within 2 x interval + 1 s, the job untouched."""
    address = free_address()
    p = pilot({"consul": address, "logging": {"level": "debug"}, "jobs": [web_job()]})
    pids = wait_for(lambda: read_lines(tmp_path / "web.pid"), 5, message="job runs without Consul")
    jobs = {job["name"]: job for job in p.status()["jobs"]}
    assert jobs["web"]["pid"] == int(pids[0])
    # pilot tries, fails and retries until its backoff has reached its cap (the interval:
    # 0.1 s doubling, so after the third failure).
    wait_for(
        lambda: p.output.count("Consul register for web-") >= 4,
        10,
        message=f"failed registrations retried\n{p.output}",
    )
    assert not p.status()["services"][0]["registered"]
    registry = Registry(address)
    late_registry.append(registry)
    came = time.monotonic()
    assert registry.address == address
    wait_for(
        lambda: passing(registry),
        2 * INTERVAL + 1 - (time.monotonic() - came),
        message=f"registered and passing within 2 x interval + 1 s\n{p.output}",
    )
    assert read_lines(tmp_path / "web.pid") == pids, "the job was not restarted"
    assert p.output.count("web started") == 1
    assert p.proc.poll() is None


def test_consul_down_is_one_clear_line_and_one_when_it_is_back(
    pilot: Callable[..., Pilot], late_registry: list[Registry], tmp_path: Path
) -> None:
    """Consul refusing connections is said in one line naming the address and the reason,
    not once per failed call; its return is said in one line too."""
    address = free_address()
    p = pilot({"consul": address, "jobs": [web_job()]})
    down = f"consul {address} unreachable (connection refused); retrying"
    p.wait_for_output(re.escape(down), 10)
    # Registration retries (capped at the 0.5 s interval) and check reports keep failing
    # meanwhile; none of them adds a line.
    wait_for(lambda: p.status()["services"][0]["registered"] is False, 5, message="status")
    holds(lambda: p.output.count("unreachable") == 1, 3, message=f"one line\n{p.output}")
    assert "Max retries" not in p.output and "HTTPConnectionPool" not in p.output
    late_registry.append(Registry(address))
    p.wait_for_output(re.escape(f"consul {address} reachable again"), 10)
    wait_for(lambda: passing(late_registry[0]), 5, message=f"registered after\n{p.output}")


def pilot_cli(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "pilot", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        capture_output=True,
        text=True,
        timeout=scaled(30),
    )


@pytest.mark.parametrize("source", ["config", "environment", "environment with a newline"])
def test_the_token_never_appears_in_output_validate_or_status(
    pilot: Callable[..., Pilot], registry: Registry, tmp_path: Path, source: str
) -> None:
    """The ACL token, from the config or CONSUL_HTTP_TOKEN (even with the whitespace a file
    read leaves around it), is used but never printed: not in pilot's log (debug level,
    through an outage), `pilot validate`, or `ctl status --json`."""
    consul: dict[str, Any] = {"address": registry.address}
    env: dict[str, str] = {}
    if source == "config":
        consul["token"] = TOKEN
    elif source == "environment":
        env["CONSUL_HTTP_TOKEN"] = TOKEN
    else:
        env["CONSUL_HTTP_TOKEN"] = f" {TOKEN}\n"
    config = {
        "consul": consul,
        "logging": {"level": "debug"},
        "watches": [{"name": "web", "service": "web"}],
        "jobs": [web_job()],
    }
    p = pilot(config, env=env)
    wait_for(lambda: passing(registry), 3, message=f"registered with the token\n{p.output}")
    # An outage: errors and retries are logged, then pilot registers again.
    registry.restart()
    wait_for(lambda: passing(registry), 2 * INTERVAL + 1.5, message=f"back\n{p.output}")

    status = p.ctl("status", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["services"], status.stdout
    assert TOKEN not in status.stdout + status.stderr

    validate = pilot_cli("validate", "--print", "-c", str(p.config_path), cwd=tmp_path, env=env)
    assert validate.returncode == 0, validate.stderr
    assert "consul" in json.loads(validate.stdout)
    assert TOKEN not in validate.stdout + validate.stderr

    # A config error in the consul section does not echo the token either.
    bad = tmp_path / "bad.json5"
    bad.write_text(json.dumps({**config, "consul": {**consul, "scheme": "ftp"}}))
    invalid = pilot_cli("validate", "-c", str(bad), cwd=tmp_path, env=env)
    assert invalid.returncode == 2 and "scheme" in invalid.stderr, invalid.stderr
    assert TOKEN not in invalid.stdout + invalid.stderr

    p.stop()
    assert p.output.count("web started") == 1
    assert "web" in p.output and TOKEN not in p.output
    assert TOKEN.encode() not in p.raw("stdout") + p.raw("stderr")
