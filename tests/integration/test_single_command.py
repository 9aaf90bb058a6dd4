"""`pilot -- CMD ARGS...` as PID 1 without a config (as tini): exit code, output untouched,
signals forwarded, zombies reaped."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import (
    PYTHON,
    REPO,
    SIGNAL_RECORDER,
    in_pid_namespace,
    read_lines,
    require_pid_namespace,
    scaled,
    unshared_child,
    wait_for,
)
from tests.integration.test_pid1 import COUNT_PROCESSES


class Single:
    """`unshare --pid --fork --mount-proc pilot -- CMD...`, its output in files."""

    def __init__(self, workdir: Path, *command: str) -> None:
        require_pid_namespace()
        self.stdout, self.stderr = workdir / "stdout", workdir / "stderr"
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "PILOT_SOCKET": str(workdir / "pilot.sock"),
        }
        argv = ["unshare", "--pid", "--fork", "--mount-proc", PYTHON, "-m", "pilot", "--", *command]
        with self.stdout.open("wb") as out, self.stderr.open("wb") as err:
            self.proc = subprocess.Popen(
                argv,
                cwd=workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )

    @property
    def pilot_pid(self) -> int:
        """pilot's pid outside the namespace (inside, it is 1)."""
        return unshared_child(self.proc.pid)

    def in_namespace(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return in_pid_namespace(self.pilot_pid, argv)

    def wait(self) -> int:
        return self.proc.wait(timeout=scaled(20))

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@pytest.fixture
def single(tmp_path: Path) -> Iterator[Callable[..., Single]]:
    """Start `pilot -- CMD` processes in the test's directory; all are killed afterwards."""
    started: list[Single] = []

    def start(*command: str) -> Single:
        instance = Single(tmp_path, *command)
        started.append(instance)
        return instance

    yield start
    for instance in started:
        instance.kill()


def test_exit_code_and_untouched_output(single: Callable[..., Single]) -> None:
    """The command's exit code is pilot's, and its output reaches pilot's stdout unprefixed."""
    p = single("sh", "-c", "echo hello; echo oops >&2; exit 3")
    assert p.wait() == 3
    assert p.stdout.read_text() == "hello\n"
    assert "oops\n" in p.stderr.read_text()


def test_signals_are_forwarded_and_sigterm_stops_the_command(
    single: Callable[..., Single], tmp_path: Path
) -> None:
    """SIGHUP, SIGUSR1, SIGUSR2, SIGQUIT and SIGWINCH reach the command; SIGTERM stops it and
    pilot exits with its code."""
    record = tmp_path / "signals"
    p = single(*SIGNAL_RECORDER, str(record))
    wait_for(lambda: Path(f"{record}.ready").exists(), 10, message="recorder ready")
    sent = [signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGQUIT, signal.SIGWINCH]
    for signum in sent:
        os.kill(p.pilot_pid, signum)
        wait_for(
            lambda signum=signum: record.exists() and signum.name in read_lines(record),
            5,
            message=f"{signum.name} forwarded",
        )
    os.kill(p.pilot_pid, signal.SIGTERM)
    assert p.wait() == 0
    assert read_lines(record) == [s.name for s in sent] + ["SIGTERM"]


def test_orphans_are_reaped(single: Callable[..., Single], tmp_path: Path) -> None:
    """Orphaned grandchildren of the command leave no zombie while pilot runs as PID 1."""
    script = "for i in $(seq 100); do (sleep 0.3 &); done; touch spawned; exec tail -f /dev/null"
    p = single("sh", "-c", script)
    wait_for(lambda: (tmp_path / "spawned").exists(), 10, message="orphans spawned")

    def settled() -> bool:
        zombies, sleeps = map(int, p.in_namespace(PYTHON, "-c", COUNT_PROCESSES).stdout.split())
        return zombies == 0 and sleeps == 0

    wait_for(settled, 10, message="every orphan exited and was reaped")
    assert p.proc.poll() is None, "pilot is still running"
    p.in_namespace("kill", "-TERM", "1")
    assert p.wait() == 143
