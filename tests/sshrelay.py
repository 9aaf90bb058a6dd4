"""An ssh relay for callback tests: OpenSSH's sshd in a network namespace of its own, joined to
this host by a veth pair, with throwaway host and client keys. Processes started in the
namespace (the "remote caller") reach this host only through that link."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import shutil
import signal
import socket
import subprocess
from functools import partial
from pathlib import Path

from tests.helpers import PYTHON, require, scaled, wait_for

SSHD = "/usr/sbin/sshd"
# A GET from the namespace: prints the body, exits 1 when the request fails.
GET = """
import sys, urllib.request
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=30).read().decode(), end="")
except OSError as error:
    sys.exit(f"{sys.argv[1]}: {error}")
"""


def require_relay() -> None:
    """Skip (or fail in CI) unless root, iproute2, OpenSSH's client and server are here."""
    require(os.geteuid() == 0, "the ssh relay needs root for a network namespace")
    for tool, package in (("ip", "iproute2"), ("ssh", "openssh-client")):
        require(shutil.which(tool) is not None, f"the ssh relay needs {tool} ({package})")
    for tool in ("ssh-keygen", SSHD):
        require(shutil.which(tool) is not None, f"the ssh relay needs {tool} (openssh-*)")


class Relay:
    """sshd listening on `address`:22 in network namespace `netns`; this host is `host_address`
    there. `client_key` logs in as root; `known_hosts` holds the relay's host key."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        tag = secrets.token_hex(4)
        self.netns = f"pilot-relay-{tag}"
        self._veth = f"prl{tag}"  # + "h" here, "r" on the relay: at most 15 characters
        self.host_address, self.address = _free_link()
        self.sshd: subprocess.Popen[bytes] | None = None
        self.client_key = directory / "client_key"
        self.known_hosts = directory / "known_hosts"
        self._config = directory / "sshd_config"
        self._log = directory / "sshd.log"
        try:
            self._link()
            self._keys()
            self.start()
        except BaseException:
            self.close()
            raise

    def _link(self) -> None:
        host, relay = f"{self._veth}h", f"{self._veth}r"
        _ip("netns", "add", self.netns)
        _ip("link", "add", host, "type", "veth", "peer", "name", relay)
        _ip("link", "set", relay, "netns", self.netns)
        _ip("addr", "add", f"{self.host_address}/30", "dev", host)
        _ip("link", "set", host, "up")
        _ip("-n", self.netns, "addr", "add", f"{self.address}/30", "dev", relay)
        _ip("-n", self.netns, "link", "set", relay, "up")
        _ip("-n", self.netns, "link", "set", "lo", "up")

    def _keys(self) -> None:
        host_key = self.directory / "host_key"
        for key in (host_key, self.client_key):
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                check=True,
                capture_output=True,
            )
        public = Path(f"{host_key}.pub").read_text().split()
        self.known_hosts.write_text(f"{self.address} {public[0]} {public[1]}\n")
        authorized = self.directory / "authorized_keys"
        shutil.copy(f"{self.client_key}.pub", authorized)
        self._config.write_text(
            f"ListenAddress {self.address}\n"
            "Port 22\n"
            f"HostKey {host_key}\n"
            f"AuthorizedKeysFile {authorized}\n"
            "PermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "UsePAM no\n"
            "StrictModes no\n"
            # a session whose client vanished frees its forwarded port within 2 s
            "ClientAliveInterval 1\n"
            "ClientAliveCountMax 2\n"
            f"PidFile {self.directory / 'sshd.pid'}\n"
        )

    def start(self) -> None:
        """Start sshd (again), and wait until it accepts connections."""
        os.makedirs("/run/sshd", exist_ok=True)  # its privilege separation directory
        with open(self._log, "ab") as log:
            self.sshd = subprocess.Popen(
                ["ip", "netns", "exec", self.netns, SSHD, "-D", "-e", "-f", str(self._config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        wait_for(self._accepts, 10, message=f"sshd listening\n{self.log}")

    def _accepts(self) -> bool:
        try:
            socket.create_connection((self.address, 22), timeout=scaled(1)).close()
        except OSError:
            return False
        return True

    def kill_sshd(self) -> None:
        """SIGKILL every sshd of the relay, the sessions (with their forwards) first, each
        process before its parent, so that its parent reaps it."""
        while sshds := self._sshds():
            leaves = [pid for pid in sshds if pid not in sshds.values()]
            for pid in leaves:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            wait_for(partial(self._gone, leaves), 5, message=f"sshd {leaves} killed")
        if self.sshd is not None:
            self.sshd.wait(scaled(5))
            self.sshd = None

    @property
    def log(self) -> str:
        return self._log.read_text(errors="replace") if self._log.exists() else ""

    def get(self, url: str) -> str | None:
        """The body of a GET of `url` from the relay's namespace, None when it fails."""
        result = self.run(PYTHON, "-c", GET, url)
        return result.stdout if result.returncode == 0 else None

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        """Run `argv` in the relay's namespace."""
        return subprocess.run(
            ["ip", "netns", "exec", self.netns, *argv],
            capture_output=True,
            text=True,
            timeout=scaled(30),
        )

    def close(self) -> None:
        """Stop sshd and remove the namespace (its end of the veth pair goes with it, and the
        other end with that)."""
        try:
            self.kill_sshd()
        finally:
            subprocess.run(["ip", "netns", "del", self.netns], capture_output=True)
            subprocess.run(["ip", "link", "del", f"{self._veth}h"], capture_output=True)

    def _gone(self, pids: list[int]) -> bool:
        return not set(pids) & set(self._sshds())

    def _sshds(self) -> dict[int, int]:
        """The live sshd processes of the relay's namespace: pid -> parent pid."""
        pids = subprocess.run(
            ["ip", "netns", "pids", self.netns], capture_output=True, text=True, check=False
        ).stdout.split()
        out = {}
        for pid in map(int, pids):
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            name, _, rest = stat.partition("(")[2].rpartition(")")
            state, parent = rest.split()[:2]
            if name == "sshd" and state != "Z":
                out[pid] = int(parent)
        return out


def _free_link() -> tuple[str, str]:
    """The two addresses of a 10.213.X.0/30 no interface here uses (X at random, so that
    parallel runs coexist)."""
    used = subprocess.run(
        ["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True, check=True
    ).stdout
    for _ in range(100):
        net = ipaddress.IPv4Network(f"10.213.{secrets.randbelow(256)}.0/30")
        if f" {net.network_address + 1}/" not in used:
            return str(net.network_address + 1), str(net.network_address + 2)
    raise AssertionError("no free 10.213.X.0/30 for the relay's link")


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)
