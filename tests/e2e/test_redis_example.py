"""examples/redis end to end: each Redis node is pilot as PID 1 of its own emulated container
(own namespaces, hostname and loopback address); one registry (consul-dev, or real Consul when
one is given) plays Consul. Roles come from a Consul lock; clients find the primary by its
`primary` tag."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.e2e.containers import Container, redis_address, redis_container, require_containers
from tests.e2e.resp import RedisError, command, commands
from tests.helpers import Registry, require, scaled, wait_for

TTL, LOCK_DELAY = 10.0, 1.0  # examples/redis/pilot.json5
FAILOVER = 2 * TTL + LOCK_DELAY + 3  # the bound after a primary dies unannounced
RECOUNT = 1.0  # Redis re-counts the replicas in sync (min-replicas-to-write) once a second
STORY_MARKS = (  # pilot's and Redis's log lines about roles and replication links
    "elected",
    "follows",
    "demoted",
    "started pid",
    "exited",
    "REPLICAOF",
    "MASTER MODE",
    "resync",
    "Connection with",
    "Loading DB",
)


@pytest.fixture
def cluster(registry: Registry, tmp_path: Path) -> Iterator[Cluster]:
    require_containers()
    require(
        shutil.which("redis-server") is not None and shutil.which("redis-cli") is not None,
        "redis is not installed (apt-get install redis-server)",
    )
    cluster = Cluster(registry, tmp_path)
    yield cluster
    for container in cluster.containers.values():
        container.cleanup()


class Cluster:
    """Redis nodes 1..N started on demand; node N listens on 127.0.0.(20+N):port."""

    def __init__(self, registry: Registry, root: Path) -> None:
        self.registry, self.root = registry, root
        self.containers: dict[int, Container] = {}
        with socket.socket() as sock:
            sock.bind((redis_address(1), 0))
            self.port = int(sock.getsockname()[1])

    def start(self, *numbers: int, **env: str) -> None:
        for number in numbers:
            self.containers[number] = redis_container(
                self.registry.address, self.root / f"redis-{number}", number, self.port, **env
            ).start()

    def running(self) -> list[int]:
        return [n for n, c in self.containers.items() if c.proc and c.proc.poll() is None]

    def replication(self, number: int) -> dict[str, str]:
        """INFO replication of node N as a dict; empty when it does not answer."""
        try:
            info = command(redis_address(number), self.port, "INFO", "replication", timeout=0.5)
        except (OSError, RedisError):
            return {}
        return dict(line.split(":", 1) for line in info.splitlines() if ":" in line)

    def role(self, number: int) -> str | None:
        """`master` or `slave` as Redis itself says, None when it does not answer."""
        return self.replication(number).get("role")

    def replicating_from(self, number: int) -> str | None:
        """The primary node N replicates from with its link up, else None."""
        fields = self.replication(number)
        if fields.get("role") != "slave" or fields.get("master_link_status") != "up":
            return None
        return f"{fields['master_host']}:{fields['master_port']}"

    def write_answer(self, number: int) -> str:
        """Node N's answer to a probe write: `OK`, its error (`READONLY ...`), or '' when it
        does not answer (refused, closed, timed out)."""
        try:
            reply = command(
                redis_address(number), self.port, "SET", f"probe:{number}", "x", timeout=0.5
            )
        except RedisError as error:
            return str(error)
        except OSError:
            return ""
        return str(reply)

    def accepts_write(self, number: int) -> bool:
        return self.write_answer(number) == "OK"

    def get(self, number: int, key: str) -> str | None:
        try:
            return command(redis_address(number), self.port, "GET", key, timeout=0.5)  # type: ignore[no-any-return]
        except (OSError, RedisError):
            return None

    def shape(self, among: Iterable[int] | None = None) -> tuple[int, int] | None:
        """(primary, replicas) once exactly one node is primary and every other running node
        (or every other node of `among`) replicates from it with its link up; None before."""
        running = self.running() if among is None else list(among)
        masters = [n for n in running if self.role(n) == "master"]
        if len(masters) != 1:
            return None
        primary = f"{redis_address(masters[0])}:{self.port}"
        replicas = [n for n in running if n != masters[0]]
        if all(self.replicating_from(n) == primary for n in replicas):
            return masters[0], len(replicas)
        return None

    def story(self) -> str:
        """Each node's replication now and the role and replication lines of its log: what a
        failed assertion about lost writes needs to be explained."""
        told = []
        for number, container in sorted(self.containers.items()):
            fields = self.replication(number)
            now = {k: fields.get(k) for k in ("role", "master_host", "master_link_status")}
            lines = [
                line[:160]
                for line in container.log.read_text(errors="replace").splitlines()
                if any(mark in line for mark in STORY_MARKS)
            ]
            told.append(f"node {number}: {now}\n  " + "\n  ".join(lines))
        return "\n".join(told)

    def tagged_primary(self) -> list[str]:
        """Passing `redis` instances tagged primary, as clients see them in Consul."""
        return [
            f"{entry['Service']['Address']}:{entry['Service']['Port']}"
            for entry in self.registry.instances("redis", passing=True)
            if "primary" in entry["Service"]["Tags"]
        ]


class Sample(NamedTuple):
    sent: float  # time.monotonic() when the write was sent
    answered: float  # time.monotonic() when the answer (or its absence) was known
    answer: str  # Cluster.write_answer
    other_primaries: tuple[int, ...]  # the other running nodes that said `master` just after


class WriteProbe:
    """Probes node N with a write every 100 ms in a background thread, from `with` to its end,
    noting at each sample which other nodes are primaries."""

    def __init__(self, cluster: Cluster, number: int) -> None:
        self.cluster, self.number = cluster, number
        self.samples: list[Sample] = []
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> WriteProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(scaled(10))
        assert not self._thread.is_alive(), "the write probe did not stop"
        if self.error is not None:
            raise AssertionError(f"the write probe failed: {self.error!r}")

    def accepted(self, since: float) -> list[Sample]:
        """Samples answered at or after `since` in which node N accepted the write."""
        return [s for s in self.samples if s.answered >= since and s.answer == "OK"]

    def first_refusal(self, since: float) -> float | None:
        """When node N first refused a write (NOREPLICAS, READONLY...) at or after `since`."""
        for sample in self.samples:
            if sample.answered >= since and sample.answer not in ("OK", ""):
                return sample.answered
        return None

    def refused_readonly(self, since: float) -> bool:
        """Whether node N has answered READONLY since `since`: the probe reaches it."""
        return any(s.answered >= since and s.answer.startswith("READONLY") for s in self.samples)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                began = time.monotonic()
                answer = self.cluster.write_answer(self.number)
                answered = time.monotonic()
                others = tuple(
                    n
                    for n in self.cluster.running()
                    if n != self.number and self.cluster.role(n) == "master"
                )
                self.samples.append(Sample(began, answered, answer, others))
                self._stop.wait(max(0.0, began + 0.1 - time.monotonic()))  # the sampling period
        except Exception as error:  # reported by __exit__
            self.error = error


class Writer:
    """A client that follows the `primary` tag: it writes w:<n> to the tagged primary, waits for
    one replica to acknowledge (WAIT 1), and counts failed writes between marks."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.acknowledged: list[int] = []  # writes held by two nodes
        self.failures = 0
        self.failed_during: dict[str, int] = {}
        self._marked = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Writer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(scaled(10))

    def mark(self, switch: str) -> None:
        """Record how many writes failed since the previous mark, under `switch`."""
        self.failed_during[switch] = self.failures - self._marked
        self._marked = self.failures
        print(f"writes failed during {switch}: {self.failed_during[switch]}")

    def acknowledged_since(self, count: int, timeout: float) -> None:
        """Wait until `count` more writes are acknowledged."""
        target = len(self.acknowledged) + count
        wait_for(lambda: len(self.acknowledged) >= target, timeout, message=f"{count} writes")

    def _run(self) -> None:
        number, primary = 0, None
        while not self._stop.is_set():
            if primary is None:
                tagged = self.cluster.tagged_primary()
                primary = tagged[0] if len(tagged) == 1 else None
            if primary is not None:
                host, port = primary.rsplit(":", 1)
                try:
                    _, replicas = commands(
                        host,
                        int(port),
                        ("SET", f"w:{number}", str(number)),
                        ("WAIT", "1", "500"),  # for this connection's write
                        timeout=1.0,
                    )
                    if replicas >= 1:
                        self.acknowledged.append(number)
                except (OSError, RedisError):
                    self.failures += 1
                    primary = None
                number += 1
            self._stop.wait(0.02)  # pacing of the load, not synchronisation


def test_single_node_is_primary(cluster: Cluster) -> None:
    """One node takes the lock, runs as a writable primary and is tagged primary in Consul."""
    cluster.start(1)
    wait_for(lambda: cluster.shape() == (1, 0), 10, message="a primary")
    assert cluster.accepts_write(1)
    wait_for(
        lambda: cluster.tagged_primary() == [f"{redis_address(1)}:{cluster.port}"],
        5,
        message="tagged primary and passing",
    )


def test_three_nodes_replicate_from_one_primary(cluster: Cluster) -> None:
    """A primary and two replicas; a write on the primary is readable on both within 2 s."""
    cluster.start(1)
    wait_for(lambda: cluster.shape() == (1, 0), 10, message="a primary")
    cluster.start(2, 3)
    wait_for(lambda: cluster.shape() == (1, 2), 10, message="two replicas")
    assert command(redis_address(1), cluster.port, "SET", "greeting", "hello") == "OK"
    wait_for(
        lambda: cluster.get(2, "greeting") == cluster.get(3, "greeting") == "hello",
        2,
        message="the write on both replicas",
    )
    for n in (2, 3):
        answer = cluster.write_answer(n)
        assert answer.startswith("READONLY"), f"replica {n} answered a write with {answer!r}"

    def tags() -> list[tuple[str, ...]]:
        entries = cluster.registry.instances("redis", passing=True)
        return sorted(tuple(entry["Service"]["Tags"]) for entry in entries)

    wait_for(
        lambda: tags() == [("primary",), ("replica",), ("replica",)],
        5,
        message="one primary and two replicas passing in Consul",
    )


def test_cold_start_never_has_two_writable_nodes(cluster: Cluster) -> None:
    """Three nodes started together: at no sample (every 100 ms) do two accept a write."""
    cluster.start(1, 2, 3)
    settled = None
    end = time.monotonic() + 15
    while time.monotonic() < end and (settled is None or time.monotonic() - settled < 3):
        writable = [n for n in (1, 2, 3) if cluster.accepts_write(n)]
        assert len(writable) <= 1, f"two writable primaries: {writable}"
        shape = cluster.shape()
        if settled is None and shape is not None and shape[1] == 2:
            settled = time.monotonic()
        time.sleep(0.1)  # the sampling period the issue asks for
    assert settled is not None, "the cluster never settled on one primary and two replicas"
    primary, _ = wait_for(lambda: cluster.shape(), 2, message="the settled shape")
    for n in (1, 2, 3):
        if n != primary:
            answer = cluster.write_answer(n)
            assert answer.startswith("READONLY"), f"replica {n} answered a write with {answer!r}"


def test_sigterm_hands_over_within_3s(cluster: Cluster) -> None:
    """`docker stop` of the primary: a planned hand-over, a new primary within 3 s, the other
    replica re-pointed, and the client back to writing."""
    cluster.start(1)
    wait_for(lambda: cluster.shape() == (1, 0), 10, message="a primary")
    cluster.start(2, 3)
    wait_for(lambda: cluster.shape() == (1, 2), 10, message="two replicas")
    with Writer(cluster) as writer:
        writer.acknowledged_since(20, 10)
        old = cluster.containers[1]
        pid1 = old.pid1
        writer.mark("steady state")
        signalled = time.monotonic()
        os.kill(pid1, signal.SIGTERM)  # `docker stop` without waiting for the exit
        new = wait_for(
            lambda: cluster.shape(among=(2, 3)),
            3,
            interval=0.05,
            message="a new primary and the other replica re-pointed, 3 s after SIGTERM",
        )
        elapsed = time.monotonic() - signalled
        print(f"new primary {elapsed:.2f}s after SIGTERM")
        assert elapsed <= scaled(3), f"the new primary came {elapsed:.2f}s after SIGTERM"
        assert new[0] in (2, 3) and new[1] == 1
        assert old.wait(20) == 0
        assert cluster.shape() == new
        writer.acknowledged_since(20, 10)
        writer.mark("planned hand-over")
        lost = [n for n in writer.acknowledged if cluster.get(new[0], f"w:{n}") != str(n)]
    story = cluster.story() if lost else ""
    assert lost == [], f"acknowledged writes lost: {lost[:10]}\n{story}"


@pytest.mark.slow
def test_sigkill_fails_over_and_the_old_primary_rejoins_as_replica(cluster: Cluster) -> None:
    """`docker kill` of the primary: a replica is promoted and the other re-pointed within
    2 x ttl + lock delay + 3 s; every write acknowledged by two nodes survives; the old primary
    started again with its data comes back as a replica of the new one."""
    cluster.start(1)
    wait_for(lambda: cluster.shape() == (1, 0), 10, message="a primary")
    cluster.start(2, 3)
    wait_for(lambda: cluster.shape() == (1, 2), 10, message="two replicas")
    with Writer(cluster) as writer:
        writer.acknowledged_since(30, 10)
        writer.mark("steady state")
        cluster.containers[1].kill()
        acknowledged_before = list(writer.acknowledged)
        new = wait_for(lambda: cluster.shape(), FAILOVER, interval=0.2, message="fail-over")
        assert new[0] in (2, 3) and new[1] == 1
        writer.acknowledged_since(10, 10)
        writer.mark("fail-over after SIGKILL")
        primary = new[0]
        lost = [n for n in acknowledged_before if cluster.get(primary, f"w:{n}") != str(n)]
        story = cluster.story() if lost else ""
        assert lost == [], f"acknowledged writes lost: {lost[:10]}\n{story}"
        with WriteProbe(cluster, 1) as probe:  # from before the old primary starts
            started = time.monotonic()
            cluster.start(1)  # the same data directory
            wait_for(lambda: cluster.shape() == (primary, 2), 15, message="the old primary rejoins")
            wait_for(
                lambda: probe.refused_readonly(started), 5, message="node 1 answering READONLY"
            )
        accepted = probe.accepted(started)
        assert accepted == [], "the restarted old primary accepted writes " + ", ".join(
            f"{s.answered - started:.2f}s after its start (primaries then: {s.other_primaries})"
            for s in accepted
        )
        writer.acknowledged_since(10, 10)
        writer.mark("the old primary rejoining")
    assert cluster.get(1, f"w:{acknowledged_before[-1]}") == str(acknowledged_before[-1])


@pytest.mark.slow
def test_paused_primary_demotes_itself_and_refuses_writes(cluster: Cluster) -> None:
    """`docker pause` of the primary past its ttl: the others elect a new primary; on resume
    the old one demotes itself and no longer accepts writes. Fenced (REDIS_MIN_REPLICAS=1, as
    the example's README advises for three nodes): its replicas have left it, so it refuses
    writes before pilot's demotion re-points it. Not from the very first command, though:
    Redis checks min-replicas-to-write against a count of good replicas it refreshes as it
    frees those that left and once a second (replicationCron), so what it runs first on
    resuming may pass on the count from before the pause (seen once in 10 runs: a write
    answered OK 0.06 s after SIGCONT, both replicas gone 0.6 s and 1 s before). No write is
    accepted after its first refusal, nor more than that second after the resume."""
    cluster.start(1, REDIS_MIN_REPLICAS="1")
    wait_for(lambda: cluster.shape() == (1, 0), 10, message="a primary")
    cluster.start(2, 3, REDIS_MIN_REPLICAS="1")
    wait_for(lambda: cluster.shape() == (1, 2), 10, message="two replicas")
    old = cluster.containers[1]

    def new_primary() -> bool:
        return any(cluster.role(n) == "master" for n in (2, 3))

    with Writer(cluster) as writer, WriteProbe(cluster, 1) as probe:
        writer.acknowledged_since(20, 10)
        writer.mark("steady state")
        old.pause()
        try:
            wait_for(new_primary, FAILOVER, interval=0.2, message="a new primary while paused")
        finally:
            resumed = time.monotonic()  # SIGCONT follows: no answer of node 1 can come earlier
            old.resume()
        wait_for(lambda: cluster.shape() is not None, 5, message="one primary again")
        shape = cluster.shape()
        assert shape is not None and shape[0] != 1 and shape[1] == 2
        wait_for(lambda: probe.refused_readonly(resumed), 5, message="node 1 answering READONLY")
        writer.acknowledged_since(10, 10)
        writer.mark("paused primary replaced and demoted")
    fenced = probe.first_refusal(resumed)
    assert fenced is not None
    late = [s for s in probe.accepted(resumed) if s.answered > min(fenced, resumed + RECOUNT)]
    assert late == [], "the resumed old primary accepted writes after it was fenced " + ", ".join(
        f"{s.answered - resumed:.2f}s after SIGCONT (sent at {s.sent - resumed:+.2f}s; first "
        f"refusal at {fenced - resumed:.2f}s; primaries then: {s.other_primaries})"
        for s in late
    )
    assert "demoted" in old.log.read_text()
