"""Running a corpus file in its sandbox: the registry where the file looks for Consul (real
Consul when the tests run on it, tests/REAL_CONSUL.md, else `pilot consul-dev`), and pilot's
`containerpilot` command on the file."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.cpparity import sandbox
from tests.helpers import PYTHON, real_consul

NO_DNS_NOR_GRPC = ["-dns-port", "-1", "-grpc-port", "-1"]


@contextlib.contextmanager
def running(argv: list[str], **popen: Any) -> Iterator[subprocess.Popen[bytes]]:
    """A process of its own group, killed with its group at the end."""
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True, **popen)
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def registry_argv(box: sandbox.Sandbox) -> list[str]:
    """Real Consul when the tests run on it (tests/REAL_CONSUL.md), else `pilot consul-dev`."""
    consul = real_consul()
    if consul:
        loopback = ["-client", "127.0.0.1", "-bind", "127.0.0.1", "-http-port", "8500"]
        return [*box.enter(), consul, "agent", "-dev", *loopback, *NO_DNS_NOR_GRPC]
    listen = ["--listen", sandbox.REGISTRY, "--dns", "off"]
    return [*box.enter(), PYTHON, "-m", "pilot", "consul-dev", *listen]


def pilot_argv(box: sandbox.Sandbox, config: Path) -> list[str]:
    """pilot's `containerpilot` command on `config`, inside the sandbox."""
    return [*box.enter(), PYTHON, "-m", "pilot.cli.containerpilot", "-config", str(config)]


def handles(pid: int, signum: int) -> bool:
    """Whether process `pid` has a handler of its own for `signum` (SigCgt in its status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    return False
