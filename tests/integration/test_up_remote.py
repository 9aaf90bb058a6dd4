"""`remote`: services resolved from a remote Consul (a second registry: consul-dev, or real
Consul when one is given), merged into the stack's registry; a local service of the same name
wins."""

from __future__ import annotations

import signal
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rdatatype
import pytest

from tests.helpers import Pilot, Registry, python_job, scaled, wait_for
from tests.integration.test_up_stack import env_of, passing, ports, stack

PRINTER = python_job("""
    import json, os, time
    json.dump(dict(os.environ), open("printer.tmp", "w"))
    os.rename("printer.tmp", "printer.env")
    time.sleep(600)
""")


def remote_instance(registry: Registry, name: str, port: int, status: str = "passing") -> None:
    """Register an instance of `name` on the remote registry's node `staging-1`."""
    registry.put(
        "/v1/catalog/register",
        {
            "Node": "staging-1",
            "Address": "127.0.0.1",
            "Service": {"ID": f"{name}-1", "Service": name, "Port": port},
            "Check": {
                "CheckID": f"{name}-1",
                "Name": "up",
                "Status": status,
                "ServiceID": f"{name}-1",
            },
        },
    )


def config(tmp_path: Path, registry: Registry) -> dict[str, Any]:
    cfg = stack(tmp_path, "api")
    cfg["jobs"].append({"name": "printer", "exec": PRINTER})
    cfg["remote"] = {"consul": registry.url, "services": ["quotes", "api", "billing"]}
    return cfg


def test_remote_services_resolve_through_variables_registry_and_dns(
    pilot: Callable[..., Pilot], registry: Registry, tmp_path: Path
) -> None:
    """A remote-only service gets QUOTES_URL and is served by the stack's registry over HTTP
    and DNS; a remote instance of a local service is ignored; a critical one is left out;
    status says where each resolves; later changes reach the registry."""
    remote_instance(registry, "quotes", 7001)
    remote_instance(registry, "api", 7002)
    remote_instance(registry, "billing", 7003, status="critical")
    p = pilot(config(tmp_path, registry), command="up")
    wait_for(lambda: (tmp_path / "printer.env").exists(), 15, message="printer's environment")
    env, kept = env_of(tmp_path, "printer"), ports(tmp_path)
    assert env["QUOTES_URL"] == "http://127.0.0.1:7001"
    assert env["QUOTES_ADDR"] == "127.0.0.1:7001"
    assert env["API_ADDR"] == f"127.0.0.1:{kept['api']}"  # local wins
    assert "BILLING_URL" not in env
    consul = env["CONSUL_HTTP_ADDR"]
    [quotes] = wait_for(lambda: passing(consul, "quotes"), 10, message="quotes merged")
    assert quotes["Service"]["Port"] == 7001
    wait_for(lambda: passing(consul, "api"), 10, message="local api passing")
    assert [e["Service"]["Port"] for e in passing(consul, "api")] == [kept["api"]]
    query = dns.message.make_query("quotes.service.consul", dns.rdatatype.SRV)
    answer = dns.query.udp(query, "127.0.0.1", timeout=scaled(5), port=kept["@dns"])
    assert [record.port for rrset in answer.answer for record in rrset] == [7001]
    status = {r["service"]: r for r in p.status()["resolutions"]}
    assert status["quotes"] == {
        "service": "quotes",
        "source": "remote",
        "address": "127.0.0.1:7001",
    }
    assert status["api"]["source"] == "local"
    assert status["billing"] == {"service": "billing", "source": "nowhere", "address": None}
    text = p.ctl("status").stdout
    assert "quotes" in text and "remote" in text
    remote_instance(registry, "billing", 7003)
    wait_for(lambda: passing(consul, "billing"), 10, message="billing passing, merged")
    registry.put("/v1/catalog/deregister", {"Node": "staging-1", "ServiceID": "quotes-1"})
    wait_for(lambda: not passing(consul, "quotes"), 10, message="quotes gone")
    p.signal(signal.SIGTERM)
    assert p.wait(15) == 0


@pytest.mark.slow
def test_an_unreachable_remote_delays_the_jobs_ten_seconds_at_most(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    """With the remote Consul down, the jobs start after the 10 s wait, with a warning, and
    the remote service resolves nowhere."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    cfg = stack(tmp_path, "api")
    cfg["jobs"].append({"name": "printer", "exec": PRINTER})
    cfg["remote"] = {"consul": f"http://127.0.0.1:{port}", "services": ["quotes"]}
    p = pilot(cfg, command="up")
    p.wait_for_output("no answer yet from the remote Consul for quotes; starting anyway", 15)
    wait_for(lambda: (tmp_path / "printer.env").exists(), 10, message="printer's environment")
    assert "QUOTES_URL" not in env_of(tmp_path, "printer")
    [quotes] = [r for r in p.status()["resolutions"] if r["service"] == "quotes"]
    assert quotes["source"] == "nowhere"


def test_copies_in_an_agent_that_outlives_the_stack_are_taken_out_at_exit(
    pilot: Callable[..., Pilot], registry: Registry, tmp_path: Path
) -> None:
    """With `consul` set (an agent that stays when the stack stops), the remote services the
    stack copied into it are deregistered when the stack stops; the agent's own remain."""
    local = Registry()
    try:
        remote_instance(registry, "quotes", 7001)
        remote_instance(local, "ledger", 7100)  # the agent's own, not the stack's
        cfg = {**config(tmp_path, registry), "consul": local.url}
        p = pilot(cfg, command="up")
        wait_for(lambda: passing(local.address, "quotes"), 15, message="quotes copied")
        p.signal(signal.SIGTERM)
        assert p.wait(15) == 0
        assert local.get("/v1/catalog/service/quotes") == []
        assert [s["ServicePort"] for s in local.get("/v1/catalog/service/ledger")] == [7100]
    finally:
        local.stop()
