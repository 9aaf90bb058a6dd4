"""consul-dev as a process of its own (`pilot consul-dev` and `python -m pilot.devconsul`),
and the `running()` context manager."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from pilot.devconsul import running
from tests.helpers import scaled

REPO = Path(__file__).resolve().parents[2]


# The two ways to run the registry: the `pilot` command's sub-command, and the package.
ENTRY_POINTS = pytest.mark.parametrize(
    "entry",
    [("-m", "pilot", "consul-dev"), ("-m", "pilot.devconsul")],
    ids=["pilot consul-dev", "python -m pilot.devconsul"],
)


def _start(entry: tuple[str, ...], *args: str) -> subprocess.Popen[str]:
    """The registry as a process; DNS off unless `args` say (its default port may be taken)."""
    dns = () if "--dns" in args else ("--dns", "off")
    return subprocess.Popen(
        [sys.executable, *entry, *args, *dns],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


@ENTRY_POINTS
def test_cli_prints_its_address_first_and_exits_0_on_sigterm(entry: tuple[str, ...]) -> None:
    """`pilot consul-dev --listen 127.0.0.1:0` (or `python -m pilot.devconsul ...`) prints
    HOST:PORT as its first line, serves, logs requests at debug level, and exits 0 on
    SIGTERM."""
    proc = _start(entry, "--listen", "127.0.0.1:0", "--node", "cli-node", "--log-level", "debug")
    try:
        assert proc.stdout is not None and proc.stderr is not None
        address = proc.stdout.readline().strip()
        host, port = address.split(":")
        assert host == "127.0.0.1" and int(port) > 0
        url = f"http://{address}"
        assert requests.get(url + "/v1/status/leader", timeout=scaled(5)).json() == "127.0.0.1:8300"
        me = requests.get(url + "/v1/agent/self", timeout=scaled(5)).json()
        assert me["Config"]["NodeName"] == "cli-node"
        debug = me["DebugConfig"]
        assert (debug["CheckDeregisterIntervalMin"], debug["CheckReapInterval"]) == (
            "1m0s",
            "30s",
        ), "the fast reaper is off by default"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(scaled(10)) == 0
        assert "GET /v1/status/leader -> 200" in proc.stderr.read()
    finally:
        proc.kill()
        proc.wait()


def test_cli_dev_fast_reaper_shortens_the_reaper() -> None:
    """`--dev-fast-reaper` lowers the deregistration minimum to 1 s and the reap period to
    500 ms, as /v1/agent/self reports."""
    proc = _start(("-m", "pilot", "consul-dev"), "--listen", "127.0.0.1:0", "--dev-fast-reaper")
    try:
        assert proc.stdout is not None
        address = proc.stdout.readline().strip()
        debug = requests.get(f"http://{address}/v1/agent/self", timeout=scaled(5)).json()[
            "DebugConfig"
        ]
        assert (debug["CheckDeregisterIntervalMin"], debug["CheckReapInterval"]) == ("1s", "500ms")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(scaled(10)) == 0
    finally:
        proc.kill()
        proc.wait()


@ENTRY_POINTS
def test_cli_refuses_an_address_it_cannot_use(entry: tuple[str, ...]) -> None:
    """A listen address that is not HOST:PORT is an error naming it, exit status 1."""
    proc = _start(entry, "--listen", "nowhere")
    _, err = proc.communicate(timeout=scaled(10))
    assert proc.returncode == 1 and "cannot listen on nowhere" in err


def test_running_yields_a_served_address_and_stops_after() -> None:
    """`running()` serves on a free port for the length of the block only."""
    with running(node="ctx") as address:
        url = f"http://{address}/v1/agent/self"
        assert requests.get(url, timeout=scaled(5)).json()["Config"]["NodeName"] == "ctx"
    try:
        requests.get(url, timeout=scaled(1))
    except requests.ConnectionError:
        return
    raise AssertionError("still serving after the block")


def test_cli_serves_dns_where_told() -> None:
    """`--dns 127.0.0.1:0` serves the DNS interface on a free port, logged at start-up, and
    `--datacenter` names the datacenter it answers for."""
    import dns.message
    import dns.query

    proc = _start(
        ("-m", "pilot", "consul-dev"),
        "--listen",
        "127.0.0.1:0",
        "--dns",
        "127.0.0.1:0",
        "--datacenter",
        "east",
        "--node",
        "n1",
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        address = proc.stdout.readline().strip()
        line = proc.stderr.readline()
        assert "DNS on 127.0.0.1:" in line
        port = int(line.rsplit(":", 1)[1].split()[0])
        query = dns.message.make_query("n1.node.east.consul", "A")
        answer = dns.query.udp(query, "127.0.0.1", port=port, timeout=scaled(5))
        assert [str(r) for r in answer.answer[0]] == ["127.0.0.1"]
        me = requests.get(f"http://{address}/v1/agent/self", timeout=scaled(5)).json()
        assert me["Config"]["Datacenter"] == "east"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(scaled(10)) == 0
    finally:
        proc.kill()
        proc.wait()


def test_cli_leaves_on_agent_leave() -> None:
    """PUT /v1/agent/leave answers 200, then `pilot consul-dev` exits 0, as an agent leaves."""
    proc = _start(("-m", "pilot", "consul-dev"), "--listen", "127.0.0.1:0")
    try:
        assert proc.stdout is not None
        url = "http://" + proc.stdout.readline().strip()
        assert requests.put(url + "/v1/agent/leave", timeout=scaled(5)).status_code == 200
        assert proc.wait(scaled(10)) == 0
    finally:
        proc.kill()
        proc.wait()
