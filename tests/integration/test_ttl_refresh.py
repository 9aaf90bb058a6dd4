"""Every health result refreshes the service's TTL check in Consul, not only a change between
healthy and unhealthy: a steadily healthy service stays passing past many TTLs."""

from __future__ import annotations

from collections.abc import Callable

from tests.helpers import Pilot, Registry, holds, wait_for

TTL = 2.0


def check_status(registry: Registry) -> str | None:
    entries = registry.instances("web")
    checks = [c for c in entries[0]["Checks"] if c["ServiceID"]] if entries else []
    return checks[0]["Status"] if checks else None


def test_a_steadily_healthy_service_stays_passing_past_its_ttl(
    pilot: Callable[..., Pilot], registry: Registry
) -> None:
    """TTL 2 s, a passing check every 500 ms: the check stays passing for 4 TTLs (a check only
    sent on transitions would expire to critical after the first)."""
    pilot(
        {
            "consul": registry.address,
            "jobs": [
                {
                    "name": "web",
                    "exec": ["sleep", "300"],
                    "port": 8080,
                    "interfaces": ["static:127.0.0.1"],
                    "health": {"exec": ["true"], "interval": "500ms", "ttl": f"{TTL:g}s"},
                }
            ],
        }
    )
    wait_for(lambda: check_status(registry) == "passing", 5, message="passing")
    holds(lambda: check_status(registry) == "passing", 4 * TTL, interval=0.2, message="passing")
