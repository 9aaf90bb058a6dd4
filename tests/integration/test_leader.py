"""Leader election through Consul locks, with several real pilots and one consul-dev."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import Pilot, Registry, wait_for

KEY = "service/app/leader"


def member(registry: Registry, port: int, ttl: str = "10s") -> dict[str, object]:
    return {
        "consul": registry.address,
        "jobs": [
            {
                "name": "app",
                "exec": ["sleep", "600"],
                "port": port,
                "interfaces": ["static:127.0.0.1"],
                "health": {"exec": ["true"], "interval": "1s"},
                "leader": {
                    "key": KEY,
                    "ttl": ttl,
                    "lock_delay": "1s",
                    "tags": {"leader": "primary", "follower": "replica"},
                },
            }
        ],
    }


@pytest.fixture
def cluster(registry: Registry, tmp_path: Path) -> Iterator[Callable[[int], list[Pilot]]]:
    started: list[Pilot] = []

    def start(count: int) -> list[Pilot]:
        for _ in range(count):
            workdir = tmp_path / f"p{len(started)}"
            workdir.mkdir()
            started.append(Pilot(member(registry, 7000 + len(started)), workdir))
        return started[-count:]

    yield start
    for pilot in started:
        pilot.stop()


def leaders(pilots: list[Pilot]) -> list[Pilot]:
    return [p for p in pilots if p.proc.poll() is None and p.role("app") == "leader"]


def test_exactly_one_leader_at_any_sample(cluster: Callable[[int], list[Pilot]]) -> None:
    """Three pilots contend for one key: one leader is elected and no sample ever shows two."""
    pilots = cluster(3)
    wait_for(lambda: len(leaders(pilots)) == 1, 10, message="a leader")
    end = time.monotonic() + 10
    while time.monotonic() < end:
        assert len(leaders(pilots)) <= 1
        time.sleep(0.1)  # the sampling period the issue asks for, not synchronisation
    assert len(leaders(pilots)) == 1


def test_registration_tags_follow_the_role(
    cluster: Callable[[int], list[Pilot]], registry: Registry
) -> None:
    """The leader's service is tagged primary, the others replica."""
    pilots = cluster(2)
    wait_for(lambda: len(leaders(pilots)) == 1, 10, message="a leader")

    def tags() -> list[list[str]]:
        return sorted(entry["Service"]["Tags"] for entry in registry.instances("app"))

    wait_for(lambda: tags() == [["primary"], ["replica"]], 5, message="role tags")
    primary = registry.instances("app", passing=False)
    assert len(primary) == 2


def test_sigterm_hands_over_within_2s(cluster: Callable[[int], list[Pilot]]) -> None:
    """SIGTERM to the leader's pilot: another pilot is elected within 2 s."""
    pilots = cluster(3)
    leader = wait_for(lambda: leaders(pilots), 10, message="a leader")[0]
    leader.signal(signal.SIGTERM)
    leader.wait()
    others = [p for p in pilots if p is not leader]
    wait_for(lambda: len(leaders(others)) == 1, 2, message="a new leader within 2 s")


@pytest.mark.slow
def test_sigkill_fails_over_after_the_session_expires(
    cluster: Callable[[int], list[Pilot]],
) -> None:
    """SIGKILL to the leader's pilot: its session expires (2 x ttl) and another is elected."""
    pilots = cluster(2)
    leader = wait_for(lambda: leaders(pilots), 10, message="a leader")[0]
    leader.proc.send_signal(signal.SIGKILL)
    leader.wait()
    other = [p for p in pilots if p is not leader]
    wait_for(lambda: leaders(other), 2 * 10 + 1 + 3, interval=0.2, message="fail-over")


@pytest.mark.slow
def test_paused_leader_demotes_itself_on_resume(cluster: Callable[[int], list[Pilot]]) -> None:
    """A leader stopped past its ttl demotes itself as soon as it resumes; no two leaders."""
    pilots = cluster(2)
    leader = wait_for(lambda: leaders(pilots), 10, message="a leader")[0]
    leader.signal(signal.SIGSTOP)
    stopped = time.monotonic()
    wait_for(lambda: time.monotonic() - stopped > 11, 15, interval=0.5, message="ttl passed")
    leader.signal(signal.SIGCONT)
    wait_for(lambda: "demoted" in leader.output, 5, message="self-demotion")
    end = time.monotonic() + 5
    while time.monotonic() < end:
        assert len(leaders(pilots)) <= 1
        time.sleep(0.1)
    wait_for(lambda: len(leaders(pilots)) == 1, 25, interval=0.2, message="one leader again")


def test_restarted_old_leader_does_not_become_a_second_leader(
    cluster: Callable[[int], list[Pilot]], registry: Registry, tmp_path: Path
) -> None:
    """The old leader started again joins as a follower while the new leader holds the lock."""
    pilots = cluster(2)
    leader = wait_for(lambda: leaders(pilots), 10, message="a leader")[0]
    leader.signal(signal.SIGTERM)
    leader.wait()
    others = [p for p in pilots if p is not leader]
    wait_for(lambda: leaders(others), 3, message="new leader")
    again = cluster(1)[0]
    wait_for(lambda: again.role("app") == "follower", 10, message="the returning pilot follows")
    assert len(leaders([*others, again])) == 1


def role_aware(registry: Registry, port: int, out: Path) -> dict[str, object]:
    """The app starts once its role is known and writes what it was told; a hook records
    every holder the instance follows."""
    config = member(registry, port)
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
        wait_for(lambda: (dirs[0] / "start").exists(), 10, message="the first app started")
        assert read_text(dirs[0] / "start") == "leader 127.0.0.1:7100"
        second = Pilot(role_aware(registry, 7101, dirs[1]), dirs[1])
        pilots.append(second)
        wait_for(lambda: (dirs[1] / "start").exists(), 10, message="the second app started")
        assert read_text(dirs[1] / "start") == "follower 127.0.0.1:7100"
        wait_for(lambda: read_text(dirs[1] / "follows") == "127.0.0.1:7100", 5, message="hook")
        first.signal(signal.SIGTERM)
        first.wait()
        wait_for(lambda: second.role("app") == "leader", 2, message="hand-over within 2 s")
        third = Pilot(role_aware(registry, 7102, dirs[2]), dirs[2])
        pilots.append(third)
        wait_for(lambda: (dirs[2] / "start").exists(), 10, message="the third app started")
        assert read_text(dirs[2] / "start") == "follower 127.0.0.1:7101"
        assert not (dirs[0] / "follows").exists(), "a leader follows nobody"
    finally:
        for pilot in pilots:
            pilot.stop()


def read_text(path: Path) -> str:
    return path.read_text().strip() if path.exists() else ""


def test_maintenance_hands_leadership_over(cluster: Callable[[int], list[Pilot]]) -> None:
    """A leader entering maintenance releases the lock and another pilot is elected; leaving
    maintenance, it comes back as a follower."""
    pilots = cluster(2)
    leader = wait_for(lambda: leaders(pilots), 10, message="a leader")[0]
    other = next(p for p in pilots if p is not leader)
    assert leader.ctl("maintenance", "on").returncode == 0
    wait_for(lambda: other.role("app") == "leader", 3, message="the other pilot elected")
    assert leader.role("app") == "follower"
    assert leader.ctl("maintenance", "off").returncode == 0
    wait_for(lambda: leader.status()["jobs"][0]["leader"] == "127.0.0.1:7001", 5, message="follows")
    assert leaders(pilots) == [other]
