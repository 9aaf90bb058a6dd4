"""pilot on a real Consul cluster with faults: three servers and two client agents, each in a
network namespace of its own on one bridge, and a pilot beside each client agent registering
through it. Four faults, one after the other, each measured from the moment it is made:

1. leader: the leader server is killed; how long until the cluster has a new leader and a write
   through a client agent succeeds; both services stay registered.
2. agent-restart: client agent c1 is killed, its data directory deleted, started again; how long
   until pilot has registered its service again and it passes.
3. partition: client agent c2 is cut off from the servers for 30 s while a new instance of the
   watched service appears; c2's template must keep its last good data the whole time (never
   empty), and after the heal the watch must resume and render the change: how long that takes.
4. primary: the agent of the leader-elected pilot is cut off; the other pilot must be elected
   within lock-delay + session TTL of its old leader losing the lock, and never while the old
   one still considers itself leader (two primaries).

Needs root, iproute2 and a `consul` binary (CONSUL_BIN, else `consul` on PATH); without one it
says so and exits 0. `python3 -m bench.cluster [--partition 30]`; raw results go to
bench/results/cluster.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.common import PYTHON, REPO, wait_for

BRIDGE, SUBNET = "pcbr0", "10.77.0"
SERVERS = ("s1", "s2", "s3")
CLIENTS = ("c1", "c2")
HOSTS = {name: f"{SUBNET}.{i}" for i, name in enumerate((*SERVERS, *CLIENTS), start=1)}
LEADER_TTL, LOCK_DELAY = 10.0, 1.0


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=check, capture_output=True, text=True)


def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    value = wait_for(predicate, timeout, interval=0.05)
    if not value:
        raise TimeoutError(f"{what}: not within {timeout:g}s")
    return value


class Net:
    """The bridge and one namespace per host, each with eth0 on the bridge."""

    def __enter__(self) -> Net:
        run("ip", "link", "add", BRIDGE, "type", "bridge")
        run("ip", "link", "set", BRIDGE, "up")
        for name, address in HOSTS.items():
            ns = f"pc-{name}"
            run("ip", "netns", "add", ns)
            run(
                "ip",
                "link",
                "add",
                f"pv-{name}",
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                ns,
            )
            run("ip", "link", "set", f"pv-{name}", "master", BRIDGE, "up")
            run("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
            run("ip", "-n", ns, "link", "set", "eth0", "up")
            run("ip", "-n", ns, "link", "set", "lo", "up")
        return self

    def __exit__(self, *_: object) -> None:
        for name in HOSTS:
            run("ip", "netns", "del", f"pc-{name}", check=False)
            run("ip", "link", "del", f"pv-{name}", check=False)
        run("ip", "link", "del", BRIDGE, check=False)

    @staticmethod
    def cut(name: str) -> None:
        run("ip", "link", "set", f"pv-{name}", "down")

    @staticmethod
    def heal(name: str) -> None:
        run("ip", "link", "set", f"pv-{name}", "up")


class Agent:
    """One Consul agent (server or client) in its host's namespace; HTTP on its loopback."""

    def __init__(self, consul: str, name: str, root: Path, streaming: bool = True) -> None:
        self.consul, self.name, self.root = consul, name, root
        self.streaming = streaming
        self.data = root / f"consul-{name}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        server = self.name in SERVERS
        argv = [
            "ip", "netns", "exec", f"pc-{self.name}", self.consul, "agent",
            # A fixed node ID: an agent whose data directory is wiped (agent-restart) comes back
            # as the same node; with a new ID the servers refuse it the name ("Node name c1 is
            # reserved") while the old node looks alive, and nothing it registers reaches the
            # catalog any more.
            "-node", self.name, "-node-id", str(uuid.uuid5(uuid.NAMESPACE_DNS, self.name)),
            "-bind", HOSTS[self.name], "-client", "127.0.0.1",
            "-data-dir", str(self.data), "-log-level", "warn", "-dns-port", "-1",
            *(f"-retry-join={HOSTS[s]}" for s in SERVERS if s != self.name),
            "-hcl", "performance { raft_multiplier = 1 }",
        ]  # fmt: skip
        if server:
            argv += ["-server", "-bootstrap-expect", str(len(SERVERS))]
        elif not self.streaming:
            argv += ["-hcl", "use_streaming_backend = false"]
        log = open(self.root / f"consul-{self.name}.log", "ab")  # noqa: SIM115 (kept by Popen)
        self.proc = subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def http(self, path: str, method: str = "GET", body: bytes | None = None) -> Any:
        """A request to this agent's HTTP API from inside its namespace (curl: the API listens
        on the namespace's loopback); None when it does not answer 200."""
        argv = ["ip", "netns", "exec", f"pc-{self.name}", "curl", "-sf", "-m", "3", "-X", method]
        if body is not None:
            argv += ["--data-binary", body.decode()]
        result = run(*argv, f"http://127.0.0.1:8500{path}", check=False)
        if result.returncode != 0:
            return None
        try:
            return json.loads(result.stdout) if result.stdout.strip() else True
        except ValueError:
            return result.stdout


def pilot_config(name: str, root: Path) -> dict[str, Any]:
    """A pilot beside client agent `name`: service `web` (checked every second), job `app` in a
    leader election whose hooks write the role changes down, a watch and a template of `web`."""
    base = root / f"pilot-{name}"
    base.mkdir(parents=True, exist_ok=True)
    (base / "web.j2").write_text(
        "{% for s in service('web') %}{{ s.node }} {{ s.address }}:{{ s.port }}\n{% endfor %}"
    )
    roles = root / "roles.log"

    def hook(code: str) -> dict[str, Any]:
        line = f'echo "$(date +%s.%N) {name} {code}" >> {roles}'
        return {"name": code, "when": {"source": "app", "each": code}, "exec": ["sh", "-c", line]}

    return {
        "consul": "127.0.0.1:8500",
        "control": {"socket": str(base / "pilot.sock")},
        "logging": {"level": "info"},
        "jobs": [
            {
                "name": "web",
                "main": True,
                "exec": ["sleep", "100000"],
                "port": 8080,
                "interfaces": ["eth0"],
                "health": {"exec": ["true"], "interval": "1s", "ttl": "5s"},
            },
            {
                "name": "app",
                "exec": ["sleep", "100000"],
                "leader": {
                    "key": "service/app/primary",
                    "ttl": f"{LEADER_TTL:g}s",
                    "lock_delay": f"{LOCK_DELAY:g}s",
                },
            },
            hook("elected"),
            hook("demoted"),
        ],
        "templates": [
            {"name": "web", "source": str(base / "web.j2"), "dest": str(base / "web.txt")}
        ],
    }


class Pilot:
    def __init__(self, name: str, root: Path) -> None:
        self.name, self.root = name, root
        self.base = root / f"pilot-{name}"
        self.config = self.base / "pilot.json5"
        self.config.write_text(json.dumps(pilot_config(name, root), indent=2))
        log = open(self.base / "pilot.log", "ab")  # noqa: SIM115 (kept by Popen)
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", f"pc-{name}",
             PYTHON, "-m", "pilot", "run", "-c", str(self.config)],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=self.base,
        )  # fmt: skip

    @property
    def rendered(self) -> str:
        with contextlib.suppress(OSError):
            return (self.base / "web.txt").read_text()
        return ""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def roles(root: Path) -> list[tuple[float, str, str]]:
    path = root / "roles.log"
    if not path.exists():
        return []
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    return [(float(row[0]), row[1], row[2]) for row in rows if len(row) == 3]


def holder(root: Path) -> str | None:
    """The pilot whose last role change was `elected`."""
    last: dict[str, str] = {}
    for _, name, code in roles(root):
        last[name] = code
    leaders = [name for name, code in last.items() if code == "elected"]
    return leaders[0] if len(leaders) == 1 else None


def web_nodes(agent: Agent, passing: bool = True) -> set[str]:
    entries = agent.http("/v1/health/service/web" + ("?passing" if passing else "")) or []
    return {entry["Node"]["Node"] for entry in entries} if isinstance(entries, list) else set()


def fault_leader(agents: dict[str, Agent], root: Path) -> dict[str, Any]:
    client = agents["c1"]
    old = client.http("/v1/status/leader") or ""
    victim = next(name for name in SERVERS if old.startswith(HOSTS[name] + ":"))
    started = time.monotonic()
    agents[victim].kill()

    def new_leader() -> bool:
        leader = client.http("/v1/status/leader")
        return bool(leader) and not leader.startswith(HOSTS[victim] + ":")

    wait_until(new_leader, 60, "a new leader")
    elected = time.monotonic() - started
    stamp = str(time.time()).encode()
    wait_until(lambda: client.http("/v1/kv/bench/probe", "PUT", stamp) is True, 60, "a write")
    writable = time.monotonic() - started
    wait_until(lambda: web_nodes(client) >= set(CLIENTS), 60, "both services")
    registered = web_nodes(client)
    agents[victim].start()  # back for the next faults (it rejoins as a follower)
    return {
        "killed": victim,
        "new_leader_s": round(elected, 2),
        "write_ok_s": round(writable, 2),
        "services_after": sorted(registered),
    }


def local_web_passing(agent: Agent) -> bool:
    """Whether `agent` itself (not only the catalog, which outlives a wiped agent) has a
    passing check of the web service: pilot registered again."""
    checks = agent.http("/v1/agent/checks") or {}
    return any(
        c.get("ServiceName") == "web" and c.get("Status") == "passing" for c in checks.values()
    )


def fault_agent_restart(agents: dict[str, Agent], root: Path) -> dict[str, Any]:
    agent, other = agents["c1"], agents["c2"]
    started = time.monotonic()
    agent.kill()
    shutil.rmtree(agent.data)
    agent.start()
    wait_until(
        lambda: "c1" in web_nodes(other) and local_web_passing(agent),
        120,
        "c1's service registered again and passing",
    )
    return {"reregistered_passing_s": round(time.monotonic() - started, 2)}


def fault_partition(
    agents: dict[str, Agent], pilots: dict[str, Pilot], root: Path, seconds: float
) -> dict[str, Any]:
    watcher, writer = pilots["c2"], agents["c1"]
    before = watcher.rendered
    assert before.strip(), "c2's template rendered before the partition"
    Net.cut("c2")
    cut_at = time.monotonic()
    service = {"ID": "web-extra", "Name": "web", "Address": "10.77.0.99", "Port": 8081}
    empty_seen = False
    registered = False
    while time.monotonic() - cut_at < seconds:
        if not registered:
            registered = (
                writer.http("/v1/agent/service/register", "PUT", json.dumps(service).encode())
                is True
            )
        empty_seen = empty_seen or not watcher.rendered.strip()
        time.sleep(0.1)
    during = watcher.rendered
    Net.heal("c2")
    healed = time.monotonic()
    wait_until(lambda: "10.77.0.99:8081" in watcher.rendered, 120, "the change rendered on c2")
    caught_up = time.monotonic() - healed
    writer.http("/v1/agent/service/deregister/web-extra", "PUT", b"")
    return {
        "partition_s": seconds,
        "template_never_empty": not empty_seen,
        "template_kept_last_good": during == before,
        "change_rendered_after_heal_s": round(caught_up, 2),
    }


def fault_primary(agents: dict[str, Agent], pilots: dict[str, Pilot], root: Path) -> dict[str, Any]:
    old = wait_until(lambda: holder(root), 60, "a primary")
    new = next(name for name in CLIENTS if name != old)
    marks = len(roles(root))
    Net.cut(old)
    cut_at = time.time()

    def elected_elsewhere() -> float | None:
        return next((t for t, n, c in roles(root)[marks:] if n == new and c == "elected"), None)

    elected_at = wait_until(elected_elsewhere, 120, f"{new} elected")
    demoted_at = next((t for t, n, c in roles(root)[marks:] if n == old and c == "demoted"), None)
    Net.heal(old)
    return {
        "old_primary": old,
        "new_primary_after_s": round(elected_at - cut_at, 2),
        "bound_s": f"lock_delay {LOCK_DELAY:g} + ttl {LEADER_TTL:g} after the old one lost it",
        "old_demoted_after_s": None if demoted_at is None else round(demoted_at - cut_at, 2),
        "two_primaries": demoted_at is None or demoted_at > elected_at,
    }


@contextlib.contextmanager
def cluster(
    consul: str, root: Path, streaming: bool
) -> Iterator[tuple[dict[str, Agent], dict[str, Pilot]]]:
    with Net():
        agents = {name: Agent(consul, name, root, streaming) for name in HOSTS}
        pilots: dict[str, Pilot] = {}
        try:
            for agent in agents.values():
                agent.start()
            c1 = agents["c1"]
            wait_until(lambda: c1.http("/v1/status/leader"), 90, "a cluster leader")
            wait_until(
                lambda: len(c1.http("/v1/catalog/nodes") or []) == len(HOSTS), 90, "every node"
            )
            pilots = {name: Pilot(name, root) for name in CLIENTS}
            wait_until(lambda: web_nodes(c1) >= set(CLIENTS), 90, "both pilots registered")
            wait_until(lambda: holder(root), 90, "a primary")
            wait_until(lambda: pilots["c2"].rendered.count("\n") >= 2, 90, "c2's template")
            yield agents, pilots
        finally:
            for pilot in pilots.values():
                pilot.stop()
            for agent in agents.values():
                agent.kill()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partition", type=float, default=30.0, help="seconds c2 is cut off")
    parser.add_argument(
        "--no-streaming",
        action="store_true",
        help="client agents answer health queries by RPC (use_streaming_backend = false)",
    )
    args = parser.parse_args(argv)
    consul = os.environ.get("CONSUL_BIN") or shutil.which("consul")
    if consul is None or os.geteuid() != 0 or shutil.which("ip") is None:
        print("cluster: skipped (needs root, iproute2 and a consul binary: CONSUL_BIN)")
        return 0
    version = run(consul, "version").stdout.splitlines()[0]
    root = Path(tempfile.mkdtemp(prefix="pilot-cluster-"))
    results: dict[str, Any] = {
        "consul": version,
        "date": time.strftime("%Y-%m-%d"),
        "streaming_backend": not args.no_streaming,
    }
    with cluster(consul, root, not args.no_streaming) as (agents, pilots):
        c1 = agents["c1"]
        faults: list[tuple[str, Callable[[], dict[str, Any]]]] = [
            ("leader", lambda: fault_leader(agents, root)),
            ("agent_restart", lambda: fault_agent_restart(agents, root)),
            ("partition", lambda: fault_partition(agents, pilots, root, args.partition)),
            ("primary", lambda: fault_primary(agents, pilots, root)),
        ]
        for name, fault in faults:
            try:
                results[name] = fault()
            except (TimeoutError, AssertionError) as error:
                results[name] = {"failed": str(error)}
            finally:
                for client in CLIENTS:
                    Net.heal(client)
            print(name, json.dumps(results[name]), flush=True)
            wait_until(lambda: len(c1.http("/v1/status/peers") or []) == 3, 120, "3 servers")
        results["pilots_alive"] = {name: pilot.alive() for name, pilot in pilots.items()}
    name = "cluster-no-streaming.json" if args.no_streaming else "cluster.json"
    out = REPO / "bench" / "results" / name
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    print(f"(logs in {root})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
