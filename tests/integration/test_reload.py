"""Soft reload: only what changed is touched; a bad config changes nothing."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Pilot, Registry, python_job, read_lines, wait_for

RUN = python_job("""
    import os, sys, time
    open(sys.argv[1] + ".runs", "a").write(f"{os.getpid()}\\n")
    while True:
        time.sleep(60)
""")


def job(name: str, *args: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "exec": [*RUN, name, *args], **extra}


def states(p: Pilot) -> dict[str, tuple[str, int | None]]:
    document = json.loads(p.ctl("status", "--json").stdout)
    return {j["name"]: (j["state"], j["pid"]) for j in document["jobs"]}


def rewrite(p: Pilot, config: dict[str, Any] | str) -> None:
    if isinstance(config, dict):
        config = json.dumps({**config, "control": {"socket": str(p.socket)}})
    p.config_path.write_text(config)


def test_reload_touches_only_what_changed(pilot: Callable[..., Pilot], tmp_path: Path) -> None:
    """Unchanged job keeps its pid; changed job restarts; removed job stops; new job starts."""
    first = {"jobs": [job("main", main=True), job("same"), job("changed"), job("removed")]}
    p = pilot(first)
    wait_for(
        lambda: all(
            read_lines(tmp_path / f"{n}.runs") for n in ("main", "same", "changed", "removed")
        ),
        10,
        message="all running",
    )
    before = states(p)
    rewrite(p, {"jobs": [job("main", main=True), job("same"), job("changed", "v2"), job("new")]})
    result = p.ctl("reload")
    assert result.returncode == 0, result.stderr
    wait_for(lambda: read_lines(tmp_path / "new.runs"), 5, message="new job started")
    wait_for(
        lambda: len(read_lines(tmp_path / "changed.runs")) == 2, 5, message="changed restarted"
    )
    after = states(p)
    assert after["main"] == before["main"] and after["same"] == before["same"]
    assert after["changed"][1] != before["changed"][1]
    assert "removed" not in after
    removed_pid = before["removed"][1]
    assert removed_pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(removed_pid, 0)


def test_invalid_config_is_rejected_and_nothing_changes(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    """A syntax error or an unknown key is reported by ctl and the log; jobs keep running."""
    p = pilot({"jobs": [job("main", main=True)]})
    wait_for(lambda: read_lines(tmp_path / "main.runs"), 10, message="running")
    before = states(p)
    for bad in (
        '{jobs: [{name: "main",, exec: "x"}]}',
        f'{{jobs: [{{name: "main", exce: "x"}}], control: {{socket: "{p.socket}"}}}}',
    ):
        p.config_path.write_text(bad)
        result = p.ctl("reload")
        assert result.returncode == 1 and "reload rejected" in result.stderr
    assert "did you mean" in p.output
    assert states(p) == before


def test_reload_with_an_unmatched_interface_changes_nothing(
    pilot: Callable[..., Pilot], registry: Registry, tmp_path: Path
) -> None:
    """A new job whose interfaces match no address is rejected, placed, before any job stops."""
    base = {"consul": registry.address}
    health = {"exec": ["true"], "interval": "1s"}
    first = {**base, "jobs": [job("main", main=True), job("other")]}
    p = pilot(first)
    wait_for(lambda: read_lines(tmp_path / "other.runs"), 10, message="running")
    before = states(p)
    bad = job("other", port=1003, health=health, interfaces=["eth-nowhere"])
    rewrite(p, {**base, "jobs": [job("main", main=True), bad]})
    result = p.ctl("reload")
    assert result.returncode == 1 and "jobs[1].interfaces: no interface matches" in result.stderr
    assert states(p) == before


def test_reload_adds_and_removes_registrations(
    pilot: Callable[..., Pilot], registry: Registry, tmp_path: Path
) -> None:
    """A removed job's service is deregistered; an unchanged one keeps its registration."""
    health = {"exec": ["true"], "interval": "1s"}
    base = {"consul": registry.address}
    p = pilot(
        {
            **base,
            "jobs": [
                job("a", main=True, port=1001, health=health, interfaces=["static:127.0.0.1"]),
                job("b", port=1002, health=health, interfaces=["static:127.0.0.1"]),
            ],
        }
    )
    wait_for(lambda: registry.instances("a") and registry.instances("b"), 5, message="registered")
    a_index = registry.instances("a")[0]["Service"]["CreateIndex"]
    rewrite(
        p,
        {
            **base,
            "jobs": [
                job("a", main=True, port=1001, health=health, interfaces=["static:127.0.0.1"])
            ],
        },
    )
    assert p.ctl("reload").returncode == 0
    wait_for(lambda: registry.instances("b") == [], 5, message="b deregistered")
    assert registry.instances("a")[0]["Service"]["CreateIndex"] == a_index


@pytest.mark.slow
def test_many_reloads_leak_nothing(
    pilot: Callable[..., Pilot], registry: Registry, tmp_path: Path
) -> None:
    """200 reloads adding and removing a watch leave threads, fds and children as they were."""
    base = {"consul": registry.address, "jobs": [job("main", main=True)]}
    with_watch = {**base, "watches": [{"name": "w", "service": "x", "wait": "1s"}]}
    p = pilot(with_watch)
    wait_for(lambda: read_lines(tmp_path / "main.runs"), 10, message="running")
    pid = p.pilot_pid

    def counts() -> tuple[int, int, int]:
        threads = len(os.listdir(f"/proc/{pid}/task"))
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        children = len(Path(f"/proc/{pid}/task/{pid}/children").read_text().split())
        return threads, fds, children

    rewrite(p, base)
    assert p.ctl("reload").returncode == 0
    rewrite(p, with_watch)
    assert p.ctl("reload").returncode == 0
    wait_for(lambda: counts()[0] == 2, 10, message="one watch thread besides the main one")
    start = counts()
    for i in range(200):
        rewrite(p, base if i % 2 == 0 else with_watch)
        result = p.ctl("reload")
        assert result.returncode == 0, result.stderr
    wait_for(
        lambda: counts() == start,
        15,
        interval=0.2,
        message=f"threads/fds/children back to {start}, now {counts()}",
    )


def test_sighup_reloads_when_asked(pilot: Callable[..., Pilot], tmp_path: Path) -> None:
    """With reload_on_sighup, SIGHUP to pilot applies the changed config."""
    import signal

    p = pilot({"reload_on_sighup": True, "jobs": [job("main", main=True)]})
    wait_for(lambda: read_lines(tmp_path / "main.runs"), 10, message="running")
    rewrite(p, {"reload_on_sighup": True, "jobs": [job("main", main=True), job("added")]})
    p.signal(signal.SIGHUP)
    wait_for(lambda: read_lines(tmp_path / "added.runs"), 5, message="added job started")
