"""A service's callback URL under `pilot up`, end to end: a real OpenSSH reverse forward to an
sshd relay in a network namespace of its own, where a "remote caller" reaches the service only
through the callback URL, across a killed ssh, a killed relay and a restarted stack."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Pilot, wait_for
from tests.integration.test_up_stack import SERVICE, env_of, ports
from tests.sshrelay import Relay, require_relay

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[Relay]:
    """sshd in a network namespace joined to this host by a veth pair; removed afterwards."""
    require_relay()
    directory = tmp_path / "relay"
    directory.mkdir()
    instance = Relay(directory)
    yield instance
    instance.close()


def stack(relay: Relay) -> dict[str, Any]:
    """One HTTP service on loopback, with a callback through `relay`. The forward listens on
    the relay's loopback, so the URL is the one a caller on the relay uses."""
    callback = {
        "ssh": f"root@{relay.address}",
        "port": "auto",
        "url": "http://127.0.0.1:{port}",
        "options": {
            "IdentityFile": str(relay.client_key),
            "UserKnownHostsFile": str(relay.known_hosts),
        },
    }
    return {
        "jobs": [{"name": "hook", "exec": [*SERVICE, "hook"], "port": "auto", "callback": callback}]
    }


def callback_url(root: Path) -> str | None:
    """HOOK_CALLBACK_URL as the service was given it, once it has written its environment."""
    try:
        return env_of(root, "hook")["HOOK_CALLBACK_URL"]
    except (OSError, ValueError):
        return None


def forward(p: Pilot) -> dict[str, Any]:
    """The status of the ssh job."""
    return next(job for job in p.status()["jobs"] if job["name"] == "hook-callback")


def serving(relay: Relay, url: str) -> bool:
    return relay.get(url) == "hook"


def until(p: Pilot, relay: Relay, predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """wait_for, failing with pilot's output and sshd's log."""
    try:
        return wait_for(predicate, timeout, message=what)
    except AssertionError as error:
        raise AssertionError(f"{error}\n--- pilot\n{p.output}\n--- sshd\n{relay.log}") from None


def test_callback_url_survives_a_killed_ssh_a_killed_relay_and_a_restart(
    pilot: Callable[..., Pilot], relay: Relay, tmp_path: Path
) -> None:
    """The service, on this host's loopback only, answers a caller on the relay at
    HOOK_CALLBACK_URL; the relay's port, picked once, stays the same when ssh is killed (pilot
    restarts it), when the relay's sshd dies and comes back, and across a new `pilot up`."""
    config = stack(relay)
    p = pilot(config, command="up")
    url = until(p, relay, lambda: callback_url(tmp_path), 20, "the service's environment")
    kept = ports(tmp_path)
    assert 20000 <= kept["hook@callback"] < 30000
    assert url == f"http://127.0.0.1:{kept['hook@callback']}"
    until(p, relay, lambda: serving(relay, url), 20, "the callback URL")
    assert relay.get(f"http://{relay.host_address}:{kept['hook']}/") is None  # only through it

    ssh = forward(p)
    os.kill(ssh["pid"], signal.SIGKILL)
    until(
        p,
        relay,
        lambda: forward(p)["pid"] not in (None, ssh["pid"]) and serving(relay, url),
        20,
        "the forward back after ssh was killed",
    )

    restarts = forward(p)["restarts"]
    relay.kill_sshd()
    assert relay.get(url) is None
    # ssh dropped, and its next connection was refused: pilot has seen the relay down
    until(p, relay, lambda: forward(p)["restarts"] >= restarts + 2, 20, "ssh retrying")
    relay.start()
    until(p, relay, lambda: serving(relay, url), 40, "the forward back after the relay")
    assert ports(tmp_path) == kept

    p.signal(signal.SIGTERM)
    assert p.wait(15) == 0
    until(p, relay, lambda: relay.get(url) is None, 10, "the forward gone with pilot")
    (tmp_path / "hook.env").unlink()
    again = pilot(config, command="up")
    until(again, relay, lambda: serving(relay, url), 30, "the forward after a new pilot up")
    assert ports(tmp_path) == kept
    assert callback_url(tmp_path) == url
