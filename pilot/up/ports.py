"""Stable ports for `pilot up`: each `port: "auto"` (and the embedded registry's HTTP and DNS
ports) is picked once and kept in `.pilot/ports.json` beside the config, so restarts of a
service or of the whole stack find it at the same address."""

from __future__ import annotations

import contextlib
import json
import os
import random
import socket
import tempfile

from pilot.config.errors import ConfigError
from pilot.config.up_mode import CALLBACK_SUFFIX, LOOPBACK, REGISTRY_DNS
from pilot.process.sockets import socket_holder, socket_rows

STATE_DIR = ".pilot"
FIRST_PICK = 10000  # automatic ports are picked from here up to the ephemeral range
RELAY_PORTS = (20000, 30000)  # where a callback's port on the relay is picked


class PortState:
    """The ports kept for one stack, in `<state_dir>/ports.json`."""

    def __init__(self, state_dir: str) -> None:
        self.path = os.path.join(state_dir, "ports.json")
        self.state_dir = state_dir
        self.kept: dict[str, int] = _read(self.path)
        self._given: dict[int, str] = {}  # port -> key, given out by this pilot

    def allocate(self, key: str, place: str) -> int:
        """The port kept for `key`, or a new free one (kept from now on).

        Raises:
            ConfigError: at `place`, when the kept port is taken by another process.
        """
        if key.endswith(CALLBACK_SUFFIX):
            return self._relay_port(key)
        udp = key == REGISTRY_DNS
        port = self.kept.get(key)
        if port is not None and self._given.get(port) == key:
            return port  # ours already (a reload): our own job may be listening on it
        if port is not None and port not in self._given:
            if not _free(port, udp):
                holder = holder_pid(port)
                who = f"process {holder} ({_command(holder)})" if holder else "another process"
                raise ConfigError(
                    place,
                    f"port {port}, kept for {key} in {self.path}, is taken by {who}: stop it, "
                    f"or delete the entry to get another port",
                )
        else:
            port = _pick(udp, self._given)
            self.kept[key] = port
            self._write()
        self._given[port] = key
        return port

    def _relay_port(self, key: str) -> int:
        """The port kept for `key` on a relay (a callback's), picked at random the first time:
        it is the relay's, so nothing here can say whether it is free."""
        port = self.kept.get(key)
        if port is None:
            port = self.kept[key] = random.randrange(*RELAY_PORTS)
            self._write()
        return port

    def _write(self) -> None:
        os.makedirs(self.state_dir, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=self.state_dir, prefix=".ports.")
        try:
            with os.fdopen(fd, "w") as file:
                json.dump(self.kept, file, indent=2, sort_keys=True)
                file.write("\n")
            os.replace(temp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise


def _read(path: str) -> dict[str, int]:
    """The kept ports (none when there is no file yet).

    Raises:
        ConfigError: the file cannot be read or is not what pilot wrote, placed in it.
    """
    fix = "fix it, or delete it to pick new ports"
    try:
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
    except FileNotFoundError:
        return {}
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path}:{error.lineno}:{error.colno}", f"{error.msg}: {fix}") from None
    except (OSError, ValueError) as error:
        raise ConfigError(path, f"cannot be read ({_reason(error)}): {fix}") from None
    if not isinstance(data, dict):
        raise ConfigError(path, f'must hold one object like {{"web": 10000}}: {fix}')
    for key, value in data.items():
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
            raise ConfigError(f"{path}: {key!r}", f"{value!r} is not a port: {fix}")
    return dict(data)


def _reason(error: Exception) -> str:
    return error.strerror if isinstance(error, OSError) and error.strerror else str(error)


def _free(port: int, udp: bool) -> bool:
    """Whether a server could listen on loopback `port` now (TCP, and UDP too with `udp`)."""
    kinds = (socket.SOCK_STREAM, socket.SOCK_DGRAM) if udp else (socket.SOCK_STREAM,)
    for kind in kinds:
        with socket.socket(socket.AF_INET, kind) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((LOOPBACK, port))
            except OSError:
                return False
    return True


def _pick(udp: bool, taken: dict[int, str]) -> int:
    """A port free now on loopback (TCP, and UDP with `udp`), not one given out already: below
    the kernel's ephemeral range when it can, so that no outgoing connection takes it while
    its service restarts."""
    low = _ephemeral_start()
    candidates = random.sample(range(FIRST_PICK, low), min(100, max(0, low - FIRST_PICK)))
    for port in candidates:
        if port not in taken and _free(port, udp):
            return port
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((LOOPBACK, 0))
            port = int(probe.getsockname()[1])
        if port not in taken and _free(port, udp):
            return port


def _ephemeral_start() -> int:
    """The first port of the kernel's ephemeral range (Linux's default when unreadable)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as file:
            return int(file.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def holder_pid(port: int) -> int | None:
    """The pid of a process holding TCP or UDP `port`, when /proc lets us find it."""
    inodes = {
        inode
        for table in ("tcp", "tcp6", "udp", "udp6")
        for local, _, inode in socket_rows(table)
        if int(local.rsplit(":", 1)[1], 16) == port
    }
    return socket_holder(inodes)


def _command(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as file:
            argv = file.read().split(b"\0")
    except OSError:
        return "?"
    return " ".join(arg.decode(errors="replace") for arg in argv if arg)[:80] or "?"
