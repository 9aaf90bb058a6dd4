"""Redis roles for pilot's redis example: pilot elects the primary through a Consul lock and
tells each job the outcome in its environment; this script turns that into Redis state.

    role.py start    exec redis-server as primary, or as a replica of the current holder
    role.py promote  on `elected`: REPLICAOF NO ONE
    role.py follow   on `following`/`demoted`: REPLICAOF the holder (parked if none is known)
    role.py health   PING, and converge Redis on the role pilot holds (a missed hook heals)

A hook's environment is a snapshot taken when it was spawned, and the role may have moved on
since (a health check spawned just before a demotion must not promote Redis again), so every
action first asks pilot for the role now, over its control socket (PILOT_SOCKET); the
environment (PILOT_REDIS_ROLE, PILOT_REDIS_LEADER) is the fallback. Also used: PILOT_REDIS_IP,
REDIS_PORT, REDIS_DIR. Standard library and redis-cli only."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time

# A replica with no known primary points here: nothing listens, so it stays read-only and
# keeps its data until pilot names the new holder.
PARKED = ("127.0.0.1", "1")
CONNECT_TIMEOUT = 10.0  # how long a hook waits for redis-server to answer after it starts


def main(action: str) -> int:
    if action == "start":
        role = os.environ.get("PILOT_REDIS_ROLE", "follower")
        return start(role, _split(os.environ.get("PILOT_REDIS_LEADER", "")))
    if action == "health":
        return health(*current_role())
    if action not in ("promote", "follow"):
        print(f"usage: role.py start|promote|follow|health (not {action!r})", file=sys.stderr)
        return 2
    if not _wait_until_up():
        print(f"redis is not answering after {CONNECT_TIMEOUT:g}s", file=sys.stderr)
        return 1
    role, leader = current_role()
    if action == "promote":
        return promote() if role == "leader" else 0  # a stale event: the role moved on
    return follow(leader) if role == "follower" else 0


def start(role: str, leader: tuple[str, str] | None) -> int:
    conf = os.path.join(os.environ.get("REDIS_DIR", "/data"), "redis.conf")
    if not os.path.exists(conf):
        print(f"{conf} is not rendered yet", file=sys.stderr)
        return 75  # EX_TEMPFAIL: pilot restarts the job after its backoff
    argv = ["redis-server", conf]
    if role != "leader":
        host, port = leader or PARKED
        argv += ["--replicaof", host, port]
    what = "primary" if role == "leader" else "replica of " + ":".join(leader or PARKED)
    print(f"starting as {what}")
    sys.stdout.flush()
    os.execvp(argv[0], argv)


def promote() -> int:
    answer = _cli("REPLICAOF", "NO", "ONE")
    print(f"promoted to primary: {answer}")
    return 0 if answer == "OK" else 1


def follow(leader: tuple[str, str] | None) -> int:
    host, port = leader or PARKED
    if _replicating_from() == (host, port):
        return 0
    answer = _cli("REPLICAOF", host, port)
    parked = "" if leader else " (parked: no known primary)"
    print(f"now a replica of {host}:{port}{parked}: {answer}")
    return 0 if answer.startswith("OK") else 1


def health(role: str, leader: tuple[str, str] | None) -> int:
    if _cli("PING") != "PONG":
        print("redis does not answer PING", file=sys.stderr)
        return 1
    source = _replicating_from()
    if role == "leader" and source is not None:
        return promote()
    if role == "follower" and source != (leader or PARKED):
        return follow(leader)
    return 0


def _replicating_from() -> tuple[str, str] | None:
    """(host, port) of the primary this Redis replicates from; None when it is a primary."""
    fields = dict(
        line.split(":", 1) for line in _cli("INFO", "replication").splitlines() if ":" in line
    )
    if fields.get("role") != "slave":
        return None
    return fields.get("master_host", ""), fields.get("master_port", "")


def _wait_until_up() -> bool:
    deadline = time.monotonic() + CONNECT_TIMEOUT
    while _cli("PING") != "PONG":
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _cli(*command: str) -> str:
    host = os.environ.get("PILOT_REDIS_IP", "127.0.0.1")
    port = os.environ.get("REDIS_PORT", "6379")
    try:
        done = subprocess.run(
            ["redis-cli", "-h", host, "-p", port, *command],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except subprocess.TimeoutExpired:
        return ""
    return done.stdout.strip()


def current_role() -> tuple[str, tuple[str, str] | None]:
    """pilot's role for the redis job and the holder it knows, asked now."""
    try:
        connection = _UnixHTTPConnection(os.environ["PILOT_SOCKET"])
        connection.request("GET", "/v1/status")
        status = json.loads(connection.getresponse().read())
        job = next(job for job in status["jobs"] if job["name"] == "redis")
        return job["role"], _split(job["leader"] or "")
    except (KeyError, OSError, ValueError, StopIteration):
        role = os.environ.get("PILOT_REDIS_ROLE", "follower")
        return role, _split(os.environ.get("PILOT_REDIS_LEADER", ""))


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=2)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(2)
        self.sock.connect(self.path)


def _split(address: str) -> tuple[str, str] | None:
    host, _, port = address.rpartition(":")
    return (host, port) if host and port else None


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ""))
