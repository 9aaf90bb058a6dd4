"""Leader election through Consul locks, with several real pilots and one registry
(consul-dev, or real Consul when one is given)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Pilot, Registry, scaled, wait_for

KEY = "service/app/leader"
TTL = 10.0  # Consul's minimum
LOCK_DELAY = 1.0
# A pilot that stops renewing loses its session at 2 x ttl; the lock is free after the delay.
FAIL_OVER = 2 * TTL + LOCK_DELAY + 3


def member(
    registry: Registry, port: int, workdir: Path, key: str = KEY, template: bool = False
) -> dict[str, Any]:
    """One contender: the app job in the election and hooks appending each `elected` /
    `demoted` of the app to `workdir/events`; with `template`, `workdir/leader.txt` renders
    `leader(key)`."""
    config: dict[str, Any] = {
        "consul": registry.address,
        "jobs": [
            {
                "name": "app",
                "exec": ["sleep", "600"],
                "port": port,
                "interfaces": ["static:127.0.0.1"],
                "health": {"exec": ["true"], "interval": "1s"},
                "leader": {
                    "key": key,
                    "ttl": f"{TTL:g}s",
                    "lock_delay": f"{LOCK_DELAY:g}s",
                    "tags": {"leader": "primary", "follower": "replica"},
                },
            },
            *(
                {
                    "name": f"on-{code}",
                    "when": {"source": "app", "each": code},
                    "exec": ["sh", "-c", f"echo {code} >> {workdir / 'events'}"],
                }
                for code in ("elected", "demoted")
            ),
        ],
    }
    if template:
        config["templates"] = [
            {
                "name": "holder",
                "contents": f'{{{{ leader("{key}") }}}}',
                "dest": str(workdir / "leader.txt"),
            }
        ]
    return config


class Cluster:
    """Pilots started on ports 7000, 7001, ... each in its own directory; all stopped at the
    end (jobs of a SIGKILLed pilot included)."""

    def __init__(self, registry: Registry, tmp_path: Path) -> None:
        self.registry, self.tmp_path = registry, tmp_path
        self.started: list[Pilot] = []
        self.orphans: list[int] = []
        self.count = 0

    def __call__(self, count: int, **options: Any) -> list[Pilot]:
        pilots = []
        for _ in range(count):
            workdir = self.tmp_path / f"p{self.count}"
            workdir.mkdir()
            config = member(self.registry, 7000 + self.count, workdir, **options)
            self.count += 1
            pilots.append(Pilot(config, workdir))
        self.started += pilots
        return pilots

    def restart(self, pilot: Pilot) -> Pilot:
        """The same pilot (same config, port and value, same directory) started again."""
        assert pilot.proc.poll() is not None, "restart an exited pilot"
        again = Pilot(json.loads(pilot.config_path.read_text()), pilot.workdir)
        self.started.append(again)
        return again

    def kill(self, pilot: Pilot) -> None:
        """SIGKILL pilot itself (not its jobs, which run in their own process groups)."""
        pid = next(j["pid"] for j in pilot.status()["jobs"] if j["name"] == "app")
        if pid:
            self.orphans.append(pid)
        pilot.proc.send_signal(signal.SIGKILL)
        pilot.wait()

    def stop(self) -> None:
        for pilot in self.started:
            with contextlib.suppress(ProcessLookupError):
                if pilot.proc.poll() is None:
                    pilot.signal(signal.SIGCONT)  # a test may fail with one stopped
            pilot.stop()
        for pid in self.orphans:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


@pytest.fixture
def cluster(registry: Registry, tmp_path: Path) -> Iterator[Cluster]:
    instance = Cluster(registry, tmp_path)
    yield instance
    instance.stop()


def leaders(pilots: list[Pilot]) -> list[Pilot]:
    return [p for p in pilots if p.proc.poll() is None and p.role("app") == "leader"]


def value_of(pilot: Pilot) -> str:
    """The value a pilot writes to the key: its app's address:port."""
    return f"127.0.0.1:{port_of(pilot)}"


def port_of(pilot: Pilot) -> int:
    return int(json.loads(pilot.config_path.read_text())["jobs"][0]["port"])


def events(pilot: Pilot) -> list[str]:
    path = pilot.workdir / "events"
    return path.read_text().split() if path.exists() else []


def sample(seconds: float, check: Any) -> int:
    """Call `check()` every 100 ms (the sampling period the issue asks for, not
    synchronisation) for `seconds`; returns the number of samples."""
    end, count = time.monotonic() + seconds, 0
    while time.monotonic() < end:
        check()
        count += 1
        time.sleep(0.1)
    return count


def test_exactly_one_leader_at_any_sample(cluster: Cluster) -> None:
    """Three pilots contend for one key: before the first election no sample shows a leader
    twice, and from the first election on every sample (100 ms, 10 s) shows exactly one."""
    pilots = cluster(3)
    started = time.monotonic()
    while True:  # sampled from the start: the first election may not give two leaders either
        found = leaders(pilots)
        assert len(found) <= 1, f"two leaders before settling: {[value_of(p) for p in found]}"
        if found:
            break
        assert time.monotonic() - started < scaled(10), "no leader elected within 10 s"
        time.sleep(0.1)
    first = found[0]

    def one_and_the_same() -> None:
        now = leaders(pilots)
        assert now == [first], f"leaders at a sample: {[value_of(p) for p in now]}"

    assert sample(10, one_and_the_same) >= 50


def test_registration_tags_follow_the_role(cluster: Cluster, registry: Registry) -> None:
    """The leader's registration is tagged primary, the others replica; on a hand-over the tags
    swap, and the new leader's registration is passing with its primary tag within 2 s."""
    pilots = cluster(2)
    old = wait_for(lambda: leaders(pilots), 10, message="a leader")[0]
    new = next(p for p in pilots if p is not old)

    def tags(passing: bool = False) -> dict[int, list[str]]:
        entries = registry.instances("app", passing=passing)
        return {e["Service"]["Port"]: sorted(e["Service"]["Tags"]) for e in entries}

    def settle(expected: dict[int, list[str]], bound: float, what: str) -> None:
        """Wait until the passing registrations include `expected` (port: tags)."""
        try:
            wait_for(lambda: tags(passing=True).items() >= expected.items(), bound, message=what)
        except AssertionError as error:
            raise AssertionError(f"{error}; all: {tags()}, passing: {tags(True)}") from None

    settle({port_of(old): ["primary"], port_of(new): ["replica"]}, 5, "role tags")
    old.signal(signal.SIGTERM)  # the 2 s start here
    settle({port_of(new): ["primary"]}, 2, "the new leader passing and primary within 2 s")
    assert new.role("app") == "leader"
    old.wait()
    again = cluster.restart(old)  # the same registration comes back, now a replica
    settle({port_of(old): ["replica"], port_of(new): ["primary"]}, 10, "swapped tags")
    assert sorted(tags()) == sorted([port_of(old), port_of(new)]), "one registration each"
    assert again.role("app") == "follower"


def test_sigterm_hands_over_within_2s(cluster: Cluster) -> None:
    """SIGTERM to the leader's pilot: another pilot is elected within 2 s of the signal."""
    pilots = cluster(3)
    leader = wait_for(lambda: leaders(pilots), 10, message="a leader")[0]
    others = [p for p in pilots if p is not leader]
    leader.signal(signal.SIGTERM)  # the clock starts here, not once pilot has exited
    wait_for(lambda: len(leaders(others)) == 1, 2, message="a new leader within 2 s of SIGTERM")
    leader.wait()  # its shutdown ends (the app killed by SIGTERM: 143)


@pytest.mark.slow
def test_sigkill_fails_over_and_the_restarted_old_leader_follows(cluster: Cluster) -> None:
    """SIGKILL to the leader's pilot: its session expires (2 x ttl) and another is elected
    within 2 x ttl + lock delay + 3 s. The old leader's pilot started again with the same
    config (same value) follows and never shows as leader while the other holds. ~25 s."""
    pilots = cluster(2)
    old = wait_for(lambda: leaders(pilots), 10, message="a leader")[0]
    new = next(p for p in pilots if p is not old)
    cluster.kill(old)
    wait_for(lambda: leaders([new]), FAIL_OVER, interval=0.2, message="fail-over")

    earlier = len(events(old))  # the same directory: the old run's events are there
    again = cluster.restart(old)

    def one_leader_the_new_one() -> None:
        assert again.role("app") != "leader", "the restarted old leader became leader"
        assert new.role("app") == "leader", "the new leader lost the lock"

    sample(5, one_leader_the_new_one)
    assert again.role("app") == "follower"
    assert again.status()["jobs"][0]["leader"] == value_of(new)
    assert "elected" not in events(again)[earlier:]


@pytest.mark.slow
def test_paused_leader_demotes_itself_on_resume(cluster: Cluster) -> None:
    """A leader's pilot stopped (SIGSTOP) until another pilot is elected demotes itself as soon
    as it resumes (SIGCONT): its first status is not leader, `demoted` is emitted, and no
    sample after the resume shows two leaders. ~25 s."""
    pilots = cluster(2)
    paused = wait_for(lambda: leaders(pilots), 10, message="a leader")[0]
    other = next(p for p in pilots if p is not paused)
    wait_for(lambda: events(paused) == ["elected"], 5, message="the elected hook")
    paused.signal(signal.SIGSTOP)
    stopped = time.monotonic()
    wait_for(lambda: leaders([other]), FAIL_OVER, interval=0.2, message="fail-over meanwhile")
    assert time.monotonic() - stopped > 2 * TTL, "elected before the session could expire"

    paused.signal(signal.SIGCONT)
    assert paused.role("app") != "leader", "acted as leader after resuming"

    def one_leader_the_other() -> None:
        now = leaders(pilots)
        assert now == [other], f"leaders after the resume: {[value_of(p) for p in now]}"

    sample(3, one_leader_the_other)
    assert events(paused) == ["elected", "demoted"]
    wait_for(
        lambda: paused.status()["jobs"][0]["leader"] == value_of(other),
        5,
        message="the resumed pilot follows the new leader",
    )
    assert paused.role("app") == "follower"


def test_invalid_session_demotes_and_a_new_session_is_created(
    cluster: Cluster, registry: Registry
) -> None:
    """The leader's session destroyed behind its back (the registry's HTTP API): the leader
    demotes (at its next renewal, within ttl/2), creates a new session, and a leader is
    elected again with a live session."""
    pilots = cluster(2)
    leader = wait_for(lambda: leaders(pilots), 10, message="a leader")[0]

    def sessions() -> set[str]:
        return {s["ID"] for s in registry.get("/v1/session/list")}

    def holder() -> str | None:
        entries = registry.get(f"/v1/kv/{KEY}")
        return entries[0].get("Session") if entries else None

    gone = holder()
    assert gone is not None and gone in sessions()
    wait_for(lambda: len(sessions()) == 2, 5, message="one session per pilot")
    registry.put(f"/v1/session/destroy/{gone}")
    wait_for(
        lambda: leader.role("app") != "leader",
        TTL / 2 + 2,
        message="the leader demotes once its session is found invalid",
    )
    wait_for(lambda: "demoted" in events(leader), 5, message="demoted emitted")
    wait_for(
        lambda: (live := sessions()) and gone not in live and len(live) == 2,
        5,
        message="a new session for the demoted pilot (and the other's still there)",
    )
    new = wait_for(lambda: leaders(pilots), 10, message="a leader elected again")
    assert len(new) == 1
    current = holder()
    assert current in sessions() and current != gone
    assert registry.get(f"/v1/kv/{KEY}")[0]["Value"] is not None
    assert new[0].status()["jobs"][0]["leader"] == value_of(new[0])


def test_leader_in_a_template_renders_the_holder_value(cluster: Cluster) -> None:
    """`{{ leader("service/x/primary") }}` renders the holder's value, in every pilot, and
    the new holder's after a hand-over."""
    pilots = cluster(2, key="service/x/primary", template=True)
    holder = wait_for(lambda: leaders(pilots), 10, message="a leader")[0]
    other = next(p for p in pilots if p is not holder)

    def rendered(pilot: Pilot) -> str:
        return read_text(pilot.workdir / "leader.txt")

    for pilot in pilots:
        wait_for(
            lambda pilot=pilot: rendered(pilot) == value_of(holder),
            5,
            message=f"{value_of(holder)} rendered by {value_of(pilot)}",
        )
    holder.signal(signal.SIGTERM)
    wait_for(
        lambda: rendered(other) == value_of(other),
        5,
        message=f"the new holder rendered, got {rendered(other)!r}",
    )


def role_aware(registry: Registry, port: int, out: Path) -> dict[str, object]:
    """The app starts once its role is known and writes what it was told; a hook records
    every holder the instance follows."""
    config = member(registry, port, out)
    app = config["jobs"][0]  # type: ignore[index]
    app["when"] = {"source": "app", "once": ["elected", "following"]}
    app["exec"] = [
        "sh",
        "-c",
        f'echo "$PILOT_APP_ROLE $PILOT_APP_LEADER" > {out}/start; exec sleep 600',
    ]
    app["main"] = True
    config["jobs"].append(  # type: ignore[attr-defined]
        {
            "name": "follow",
            "when": {"source": "app", "each": "following"},
            "exec": ["sh", "-c", f'echo "$PILOT_APP_LEADER" >> {out}/follows'],
        }
    )
    return config


def test_a_job_starts_once_its_role_is_known_and_hooks_follow_the_holder(
    registry: Registry, tmp_path: Path
) -> None:
    """`once: [elected, following]` starts the job with its role in the environment; `each:
    following` runs with each new holder, including after a planned hand-over."""
    dirs = [tmp_path / f"p{i}" for i in range(3)]
    for directory in dirs:
        directory.mkdir()
    first = Pilot(role_aware(registry, 7100, dirs[0]), dirs[0])
    pilots = [first]
    try:
        wait_for(lambda: read_text(dirs[0] / "start"), 10, message="the first app started")
        assert read_text(dirs[0] / "start") == "leader 127.0.0.1:7100"
        second = Pilot(role_aware(registry, 7101, dirs[1]), dirs[1])
        pilots.append(second)
        wait_for(lambda: read_text(dirs[1] / "start"), 10, message="the second app started")
        assert read_text(dirs[1] / "start") == "follower 127.0.0.1:7100"
        wait_for(lambda: read_text(dirs[1] / "follows") == "127.0.0.1:7100", 5, message="hook")
        first.signal(signal.SIGTERM)
        first.wait()
        wait_for(lambda: second.role("app") == "leader", 2, message="hand-over within 2 s")
        third = Pilot(role_aware(registry, 7102, dirs[2]), dirs[2])
        pilots.append(third)
        wait_for(lambda: read_text(dirs[2] / "start"), 10, message="the third app started")
        assert read_text(dirs[2] / "start") == "follower 127.0.0.1:7101"
        assert not (dirs[0] / "follows").exists(), "a leader follows nobody"
    finally:
        for pilot in pilots:
            pilot.stop()


def read_text(path: Path) -> str:
    return path.read_text().strip() if path.exists() else ""


def test_maintenance_hands_leadership_over(cluster: Cluster) -> None:
    """A leader entering maintenance releases the lock and another pilot is elected; leaving
    maintenance, it comes back as a follower."""
    pilots = cluster(2)
    leader = wait_for(lambda: leaders(pilots), 10, message="a leader")[0]
    other = next(p for p in pilots if p is not leader)
    assert leader.ctl("maintenance", "on").returncode == 0
    wait_for(lambda: other.role("app") == "leader", 3, message="the other pilot elected")
    assert leader.role("app") == "follower"
    holder = other.status()["jobs"][0]["leader"]  # the other pilot's own value
    assert leader.ctl("maintenance", "off").returncode == 0
    wait_for(lambda: leader.status()["jobs"][0]["leader"] == holder, 5, message="follows")
    assert leaders(pilots) == [other]


def test_a_leader_that_cannot_confirm_its_lock_demotes_well_before_the_ttl(
    cluster: Cluster, registry: Registry
) -> None:
    """With the registry gone, the leader steps down within a few CONFIRM periods (1 s), not at
    renewal + ttl (10 s): Consul may invalidate a session well before its ttl (its node's
    serfHealth), and the next leader must not find this one still acting as leader."""
    (p,) = cluster(1)
    wait_for(lambda: events(p) == ["elected"], 30, message="elected")
    registry.kill()
    lost = time.monotonic()
    wait_for(lambda: events(p) == ["elected", "demoted"], TTL, message="demoted")
    assert time.monotonic() - lost < TTL / 2, "demoted before half the ttl"
    assert "cannot confirm the lock" in p.output
