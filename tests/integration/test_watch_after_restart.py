"""A pilot that only watches (no registration of its own) follows a registry that restarted
with lower indexes: its long poll starts over instead of waiting out the old index."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.helpers import Pilot, Registry, wait_for
from tests.integration.test_consul import GapProxy, long_poll_of

WAIT = 2.0  # the watch's long-poll wait in the test where no error is seen


def watch_status(p: Pilot, name: str) -> dict[str, Any]:
    """The watch's line of pilot's status; empty while the control socket is not up yet."""
    try:
        watches = p.status()["watches"]
    except OSError:
        return {}
    return next(w for w in watches if w["name"] == name)


def register(registry: Registry, instance: int) -> None:
    registry.put(
        "/v1/agent/service/register",
        {"Name": "db", "ID": f"db-{instance}", "Address": "127.0.0.7", "Port": 5000 + instance},
    )


def test_a_watch_only_pilot_follows_a_restarted_registry(
    pilot: Callable[..., Pilot], registry: Registry
) -> None:
    """The registry is killed during the watch's long poll and started again on the same port,
    empty, its indexes far below the one the watch held: the new instances are seen within
    seconds, not after the watch's 5-minute wait."""
    for n in range(40):  # the first registry's index runs well ahead of the second's
        registry.put(f"/v1/kv/filler/{n}", "x")
    register(registry, 1)
    p = pilot(
        {
            "consul": registry.address,
            "logging": {"level": "debug"},
            "watches": [{"name": "db", "service": "db", "wait": "5m"}],
            "jobs": [{"name": "idle", "exec": ["sleep", "300"]}],
        }
    )
    wait_for(lambda: watch_status(p, "db").get("instances") == 1, 5, message=f"first\n{p.output}")
    registry.restart()
    register(registry, 1)
    register(registry, 2)
    wait_for(
        lambda: watch_status(p, "db").get("instances") == 2,
        5,
        message=f"the restarted registry's two instances\n{watch_status(p, 'db')}\n{p.output}",
    )


def test_a_watch_only_pilot_takes_a_lower_index_as_a_fresh_start(
    pilot: Callable[..., Pilot], registry: Registry
) -> None:
    """A registry that dies and comes back between two long polls (no error seen: the proxy
    hands the next poll, with the old index, to the new registry) answers it after the wait
    with a lower index: the watch starts over from there and sees the new instances."""
    for n in range(40):
        registry.put(f"/v1/kv/filler/{n}", "x")
    register(registry, 1)
    proxy = GapProxy(registry.address)
    p = pilot(
        {
            "consul": proxy.address,
            "logging": {"level": "debug"},
            "watches": [{"name": "db", "service": "db", "wait": f"{WAIT:g}s"}],
            "jobs": [{"name": "idle", "exec": ["sleep", "300"]}],
        }
    )
    second = Registry()
    try:
        wait_for(lambda: watch_status(p, "db").get("instances") == 1, 5, message="first")
        wait_for(lambda: long_poll_of(proxy.forwarded, "db"), 5, message="a long poll going on")
        proxy.holding.set()
        register(registry, 2)  # answers that poll; the next one waits in the proxy
        wait_for(lambda: watch_status(p, "db").get("instances") == 2, 5, message="second")
        wait_for(lambda: long_poll_of(proxy.held, "db"), 5, message="the next long poll held")
        registry.kill()
        for instance in (1, 2, 3):
            register(second, instance)
        proxy.upstream = second.address
        proxy.released.set()
        wait_for(
            lambda: watch_status(p, "db").get("instances") == 3,
            WAIT + 2,
            message=f"the new registry's instances\n{watch_status(p, 'db')}\n{p.output}",
        )
    finally:
        proxy.close()
        second.stop()
