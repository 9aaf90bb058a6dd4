"""What pilot registers for a ContainerPilot file, compared with what ContainerPilot 3.8.0 itself
registered in Consul 1.10.3 for the same file (tests/data/containerpilot_parity/
registration.json, recorded from the real binaries): service IDs, names, tags, addresses, ports,
EnableTagOverride, check IDs and their services; the differences kept (check names, notes and
output) are in docs/migrating.md."""

from __future__ import annotations

import json
import signal
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.helpers import REPO, Pilot, Registry, wait_for

DATA = json.loads((REPO / "tests/data/containerpilot_parity/registration.json").read_text())
SERVICE_FIELDS = ("ID", "Service", "Tags", "Address", "Port", "EnableTagOverride")
CHECK_FIELDS = ("CheckID", "ServiceID", "ServiceName")  # Name, Notes, Output: kept differences


def expected(table: str) -> dict[str, Any]:
    text = json.dumps(DATA[table]).replace("{hostname}", socket.gethostname())
    return dict(json.loads(text))


def test_pilot_registers_what_containerpilot_registers(
    pilot: Callable[..., Pilot], registry: Registry, tmp_path: Path
) -> None:
    """The same services and checks, the passing one passing; all deregistered on SIGTERM."""
    port = registry.address.rsplit(":", 1)[1]
    p = pilot(DATA["config.json5"], env={"CONSUL_PORT": port, "DIR": str(tmp_path)})
    services = expected("services")
    wait_for(
        lambda: (
            registry.get("/v1/agent/services").keys() == services.keys()
            and registry.get("/v1/agent/checks")
            .get(f"service:web-{socket.gethostname()}", {})
            .get("Status")
            == "passing"
        ),
        15,
        message="both services, web passing",
    )
    got = registry.get("/v1/agent/services")
    for name, service in services.items():
        assert {f: got[name].get(f) for f in SERVICE_FIELDS} == service
    checks = registry.get("/v1/agent/checks")
    for name, check in expected("checks").items():
        assert {f: checks[name].get(f) for f in CHECK_FIELDS} == {f: check[f] for f in CHECK_FIELDS}
    assert checks[f"service:db-{socket.gethostname()}"]["Status"] != "passing"
    p.signal(signal.SIGTERM)
    p.wait(20)
    assert sorted(registry.get("/v1/agent/services")) == DATA["after_stop"]
