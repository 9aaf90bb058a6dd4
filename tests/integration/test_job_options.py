"""Job options seen from the job: cwd, shell, user, pilot's log level, SIGWINCH, orphans."""

from __future__ import annotations

import os
import pwd
import re
import signal
from collections.abc import Callable
from pathlib import Path

from tests.helpers import SIGNAL_RECORDER, Pilot, read_lines, require, wait_for


def test_cwd_is_the_jobs_working_directory(pilot: Callable[..., Pilot], tmp_path: Path) -> None:
    """A job with cwd runs in that directory, not in pilot's."""
    work = tmp_path / "work"
    work.mkdir()
    out = tmp_path / "pwd.out"
    job = {"name": "app", "exec": ["sh", "-c", f"pwd -P > {out}"], "cwd": str(work)}
    assert pilot({"jobs": [job]}).wait() == 0
    assert read_lines(out) == [str(work.resolve())]


def test_shell_true_runs_under_sh(pilot: Callable[..., Pilot], tmp_path: Path) -> None:
    """shell: true hands exec to /bin/sh -c: arithmetic expansion and redirection work."""
    job = {"name": "app", "exec": "echo $((1+2)) > three", "shell": True}
    assert pilot({"jobs": [job]}).wait() == 0
    assert read_lines(tmp_path / "three") == ["3"]


def test_logging_level_warn_hides_pilots_info_lines(pilot: Callable[..., Pilot]) -> None:
    """logging.level warn: pilot's own info lines are gone, its warnings and job output stay."""
    config = {
        "logging": {"level": "warn"},
        "jobs": [
            {
                "name": "waiter",
                "exec": ["true"],
                "when": {"source": "SIGUSR1", "once": "SIGUSR1", "timeout": "100ms"},
            },
            {
                "name": "app",
                "main": True,
                "exec": ["echo", "job-output"],
                "when": {"source": "waiter", "once": "exitFailed"},
            },
        ],
    }
    p = pilot(config)
    assert p.wait() == 0
    own = [
        match.group(1)
        for line in p.raw("stderr").decode().splitlines()
        if (match := re.match(r"\S+ pilot\s*\| (.*)", line))
    ]
    assert any(line.startswith("warn: waiter: gave up waiting") for line in own), own
    assert all(line.startswith(("warn: ", "error: ")) for line in own), own
    assert re.search(r"app\s*\| job-output$", p.raw("stdout").decode(), re.MULTILINE)


def test_sigwinch_reaches_the_terminal_job_only(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    """SIGWINCH to pilot goes to the job that has the terminal and not to another job."""
    config = {
        "jobs": [
            {
                "name": "app",
                "main": True,
                "terminal": True,
                "exec": [*SIGNAL_RECORDER, str(tmp_path / "app")],
            },
            {
                "name": "side",
                "exec": [*SIGNAL_RECORDER, str(tmp_path / "side")],
                "forward": ["SIGUSR1"],
            },
        ]
    }
    p = pilot(config)
    wait_for(
        lambda: (tmp_path / "app.ready").exists() and (tmp_path / "side.ready").exists(),
        10,
        message="recorders ready",
    )
    p.signal(signal.SIGWINCH)
    wait_for(lambda: read_lines(tmp_path / "app") == ["SIGWINCH"], 5, message="SIGWINCH to app")
    p.signal(signal.SIGUSR1)  # handled after SIGWINCH: "side" would have recorded it first
    wait_for(lambda: read_lines(tmp_path / "side"), 5, message="SIGUSR1 to side")
    assert read_lines(tmp_path / "side") == ["SIGUSR1"]
    assert read_lines(tmp_path / "app") == ["SIGWINCH"]


def children_of(ppid: int) -> list[tuple[int, str, str]]:
    """(pid, comm, state) of every process whose parent is `ppid`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        state, parent = stat[stat.rindex(")") + 2 :].split()[:2]
        if int(parent) == ppid:
            found.append((int(entry), comm, state))
    return found


def test_orphans_are_reaped_when_pilot_is_not_pid1(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    """Not PID 1, pilot is a child subreaper: a job's orphaned grandchild becomes pilot's child
    and, once it exits, leaves no zombie behind."""
    script = "(sleep 1 &); touch spawned; exec tail -f /dev/null"
    p = pilot({"jobs": [{"name": "app", "exec": ["sh", "-c", script]}]})
    wait_for(lambda: (tmp_path / "spawned").exists(), 10, message="grandchild spawned")
    pid = p.pilot_pid

    def orphans() -> list[tuple[int, str, str]]:
        return [child for child in children_of(pid) if child[1] == "sleep"]

    wait_for(orphans, 5, message="the orphaned sleep adopted by pilot")

    def reaped() -> bool:
        zombies = [child for child in children_of(pid) if child[2] == "Z"]
        return not orphans() and not zombies

    wait_for(reaped, 5, message="the orphan reaped and no zombie child of pilot left")
    assert p.proc.poll() is None, "pilot is still running"


def test_user_alone_gets_the_users_primary_group(pilot: Callable[..., Pilot]) -> None:
    """user: "nobody" without group runs with nobody's uid and nobody's primary gid, and none
    of root's groups."""
    require(os.geteuid() == 0, "running a job as another user needs root")
    nobody = pwd.getpwnam("nobody")
    job = {
        "name": "app",
        "exec": ["grep", "-E", "^(Uid|Gid|Groups):", "/proc/self/status"],
        "user": "nobody",
    }
    p = pilot({"jobs": [job]})
    assert p.wait() == 0, p.output
    ids = {
        match.group(1): match.group(2).split()
        for match in re.finditer(r"app\s*\| (Uid|Gid|Groups):(.*)$", p.output, re.MULTILINE)
    }
    assert ids["Uid"] == [str(nobody.pw_uid)] * 4, ids
    assert ids["Gid"] == [str(nobody.pw_gid)] * 4, ids
    assert "0" not in ids["Groups"], ids
