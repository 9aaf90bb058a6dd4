"""Start the agents the scenarios run against: a real `consul agent -dev` (recording) or
`pilot consul-dev` (replay), each on free loopback ports, node `golden`."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.golden.scenarios import NODE
from tests.helpers import PYTHON, REPO, wait_for


@dataclass
class Agent:
    """A running agent: its HTTP address, its DNS port, the process and its scratch directory."""

    http: str
    dns: int
    proc: subprocess.Popen[bytes]
    scratch: Path

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        shutil.rmtree(self.scratch, ignore_errors=True)


def free_port() -> int:
    """A port free on 127.0.0.1 for both TCP and UDP (DNS listens on both)."""
    while True:
        with socket.socket() as tcp:
            tcp.bind(("127.0.0.1", 0))
            port: int = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port


def start_consul(binary: str) -> Agent:
    """A fresh real Consul dev agent (in memory) on free loopback HTTP, DNS and gRPC ports; its
    server and serf ports are Consul's defaults, so only one runs at a time."""
    http, dns = free_port(), free_port()
    scratch = Path(tempfile.mkdtemp(prefix="golden-consul-"))
    argv = [binary, "agent", "-dev", "-client", "127.0.0.1", "-bind", "127.0.0.1",
            "-http-port", str(http), "-dns-port", str(dns), "-node", NODE,
            # Consul's default server and serf ports, as consul-dev reports them (in the `consul`
            # service, the leader address, members).
            "-server-port", "8300", "-serf-lan-port", "8301", "-serf-wan-port", "8302",
            "-grpc-port", str(free_port())]
    log = (scratch / "consul.log").open("wb")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            cwd=scratch)
    agent = Agent(f"127.0.0.1:{http}", dns, proc, scratch)
    try:
        wait_for(lambda: ready(agent), 60, interval=0.2, message="consul agent ready")
    except AssertionError:
        agent.stop()
        raise
    return agent


def start_consul_dev() -> Agent:
    """A fresh `pilot consul-dev` of this worktree, with DNS, in its default (Consul-like) mode."""
    http, dns = free_port(), free_port()
    scratch = Path(tempfile.mkdtemp(prefix="golden-dev-"))
    argv = [PYTHON, "-m", "pilot", "consul-dev", "--listen", f"127.0.0.1:{http}",
            "--dns", f"127.0.0.1:{dns}", "--node", NODE]
    log = (scratch / "consul-dev.log").open("wb")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    agent = Agent(f"127.0.0.1:{http}", dns, proc, scratch)
    try:
        wait_for(lambda: ready(agent), 30, interval=0.1, message="consul-dev ready")
    except AssertionError:
        agent.stop()
        raise
    return agent


def ready(agent: Agent) -> bool:
    """A leader is known and this node's serfHealth check is passing in the catalog."""
    if agent.proc.poll() is not None:
        raise AssertionError(f"the agent exited with {agent.proc.returncode}")
    try:
        leader = requests.get(f"http://{agent.http}/v1/status/leader", timeout=2)
        if leader.status_code != 200 or not leader.json():
            return False
        checks = requests.get(f"http://{agent.http}/v1/health/node/{NODE}", timeout=2).json()
    except (requests.RequestException, ValueError):
        return False
    return any(c["CheckID"] == "serfHealth" and c["Status"] == "passing" for c in checks)
