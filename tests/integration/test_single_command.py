"""`pilot -- CMD ARGS...` as PID 1 without a config (as tini): exit code, output untouched,
signals forwarded, zombies reaped."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    PYTHON,
    REPO,
    SIGNAL_RECORDER,
    Pilot,
    in_pid_namespace,
    python_job,
    read_lines,
    require_pid_namespace,
    scaled,
    unshared_child,
    wait_for,
)
from tests.integration.test_pid1 import COUNT_PROCESSES


class Single:
    """`unshare --pid --fork --mount-proc pilot [OPTIONS] -- CMD...` (or pilot alone), its
    output in files named after `name`."""

    def __init__(
        self,
        workdir: Path,
        *command: str,
        pid1: bool = True,
        options: tuple[str, ...] = (),
        name: str = "",
    ) -> None:
        if pid1:
            require_pid_namespace()
        self.pid1 = pid1
        self.stdout, self.stderr = workdir / f"{name}stdout", workdir / f"{name}stderr"
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        env.pop("PILOT_SOCKET", None)
        argv = [PYTHON, "-m", "pilot", *options, "--", *command]
        if pid1:
            argv = ["unshare", "--pid", "--fork", "--mount-proc", *argv]
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
        return unshared_child(self.proc.pid) if self.pid1 else self.proc.pid

    def in_namespace(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return in_pid_namespace(self.pilot_pid, argv)

    def wait(self) -> int:
        return self.proc.wait(timeout=scaled(20))

    def kill(self) -> None:
        """SIGKILL pilot and whatever it started (not PID 1, its command has a process group
        of its own, which killing pilot's group would leave running)."""
        if self.proc.poll() is None:
            descendants = _descendants(self.proc.pid)
            os.killpg(self.proc.pid, signal.SIGKILL)
            for pid in descendants:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.proc.wait()


def _descendants(pid: int) -> list[int]:
    children_file = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        children = [int(child) for child in children_file.read_text().split()]
    except OSError:
        return []
    return [descendant for child in children for descendant in (child, *_descendants(child))]


@pytest.fixture
def single(tmp_path: Path) -> Iterator[Callable[..., Single]]:
    """Start `pilot -- CMD` processes in the test's directory; all are killed afterwards."""
    started: list[Single] = []

    def start(*command: str, **options: Any) -> Single:
        instance = Single(tmp_path, *command, **options)
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


# Passed on as they are, as tini does; pilot keeps running.
FORWARDED = [
    signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH,
    signal.SIGALRM, signal.SIGCONT, signal.SIGTSTP, signal.SIGURG, signal.SIGXCPU,
    signal.SIGXFSZ, signal.SIGVTALRM, signal.SIGPROF, signal.SIGIO, signal.SIGSTKFLT,
    signal.SIGABRT, signal.SIGSYS, signal.SIGTRAP,
]  # fmt: skip
# Passed on as they are; pilot then waits for the command to exit (SIGKILL after 10 s).
STOPPING = [signal.SIGTERM, signal.SIGINT, signal.SIGPWR]
# Ignored, as tini does: pilot is never stopped by a terminal, and neither is its command.
IGNORED = [signal.SIGTTIN, signal.SIGTTOU]

# Records every signal of the tables above it receives; exits 0 on the stopping ones.
RECORDER = python_job(f"""
    import signal, sys, time
    path = sys.argv[1]
    def record(signum, frame):
        with open(path, "a") as f:
            f.write(signal.Signals(signum).name + "\\n")
        if signum in {[int(s) for s in STOPPING]}:
            sys.exit(0)
    for s in {[int(s) for s in FORWARDED + STOPPING + IGNORED]}:
        signal.signal(s, record)
    open(path + ".ready", "w").close()
    while True:
        time.sleep(60)
""")


@pytest.mark.parametrize("pid1", [True, False], ids=["pid1", "not-pid1"])
def test_every_signal_tini_forwards_reaches_the_command(
    single: Callable[..., Single], tmp_path: Path, pid1: bool
) -> None:
    """Each signal of FORWARDED reaches the command and pilot keeps running (not PID 1, a
    `kill -ABRT` or `-XCPU` used to kill pilot and orphan its command); SIGTTIN and SIGTTOU
    reach nothing."""
    record = tmp_path / "signals"
    p = single(*RECORDER, str(record), pid1=pid1)
    wait_for(lambda: Path(f"{record}.ready").exists(), 10, message="recorder ready")
    expected: list[str] = []
    for signum in [*FORWARDED, *IGNORED, signal.SIGHUP]:
        os.kill(p.pilot_pid, signum)
        if signum not in IGNORED:
            expected.append(signum.name)
            wait_for(
                lambda: record.exists() and read_lines(record) == expected,
                5,
                message=f"{signum.name} forwarded",
            )
    assert read_lines(record) == [s.name for s in [*FORWARDED, signal.SIGHUP]]
    assert p.proc.poll() is None, "pilot is still running"


@pytest.mark.parametrize("signum", STOPPING, ids=[s.name for s in STOPPING])
def test_a_stopping_signal_reaches_the_command_as_it_is(
    single: Callable[..., Single], tmp_path: Path, signum: signal.Signals
) -> None:
    """SIGINT reaches the command as SIGINT (and SIGPWR as SIGPWR), not as pilot's stop
    signal; pilot exits with the command's code once it is over."""
    record = tmp_path / "signals"
    p = single(*RECORDER, str(record))
    wait_for(lambda: Path(f"{record}.ready").exists(), 10, message="recorder ready")
    os.kill(p.pilot_pid, signum)
    assert p.wait() == 0
    assert read_lines(record) == [signum.name]


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


def test_silent_but_for_the_command_unless_verbose(single: Callable[..., Single]) -> None:
    """As tini, `pilot --` adds nothing to the command's output; `-v` tells what it starts
    and reaps."""
    quiet = single("sh", "-c", "echo out; echo err >&2")
    assert quiet.wait() == 0
    assert (quiet.stdout.read_text(), quiet.stderr.read_text()) == ("out\n", "err\n")
    verbose = single("sh", "-c", "echo out", options=("-v",), name="v-")
    assert verbose.wait() == 0
    assert verbose.stdout.read_text() == "out\n"
    assert "sh started" in verbose.stderr.read_text()


def test_two_side_by_side(single: Callable[..., Single], tmp_path: Path) -> None:
    """Two `pilot --` on one host (not PID 1, default paths) both run: neither takes the
    default control socket."""
    first, second = (
        single("sh", "-c", f"touch {n}; exec sleep 300", pid1=False, name=n) for n in ("a-", "b-")
    )
    wait_for(
        lambda: (tmp_path / "a-").exists() and (tmp_path / "b-").exists(),
        10,
        message=f"both started: {first.stderr.read_text()} {second.stderr.read_text()}",
    )
    for p in (first, second):
        os.kill(p.pilot_pid, signal.SIGTERM)
        assert p.wait() == 143


def test_socket_on_request(single: Callable[..., Single], tmp_path: Path) -> None:
    """`--socket PATH` serves pilot ctl there, and the command gets it as PILOT_SOCKET."""
    sock = tmp_path / "ctl.sock"
    p = single("sh", "-c", 'echo "$PILOT_SOCKET"; exec sleep 300', options=("--socket", str(sock)))
    wait_for(lambda: p.stdout.read_text() == f"{sock}\n", 10, message="command started")
    status = subprocess.run(
        [PYTHON, "-m", "pilot", "ctl", "--socket", str(sock), "status"],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert status.returncode == 0, status.stderr
    assert "sleep" in status.stdout or "sh" in status.stdout


def test_nested_in_a_pilot_job(pilot: Callable[..., Pilot], tmp_path: Path) -> None:
    """The usual wrapper, `exec pilot -- app` as a pilot job, runs: the inner pilot serves no
    socket, and its command keeps the outer `PILOT_SOCKET`, so `pilot ctl` reaches the outer
    pilot. SIGTERM to the outer one goes down to the command and back up as its exit code."""
    script = 'echo "$PILOT_SOCKET" > seen; exec sleep 300'
    config = {
        "jobs": [
            {"name": "app", "main": True, "exec": [PYTHON, "-m", "pilot", "--", "sh", "-c", script]}
        ]
    }
    outer = pilot(config)
    wait_for(lambda: (tmp_path / "seen").exists(), 10, message=outer.output)
    assert read_lines(tmp_path / "seen") == [str(outer.socket)]
    outer.signal(signal.SIGTERM)
    assert outer.wait() == 143, outer.output


def test_leftovers_get_sigterm_and_time_before_sigkill(
    single: Callable[..., Single], tmp_path: Path
) -> None:
    """What the command leaves in its group when it exits gets SIGTERM and a grace (2 s)
    before SIGKILL: a leftover that traps SIGTERM finishes its work, even with pilot PID 1."""
    leftover = (
        "trap 'echo flushed > flushed; exit 0' TERM; touch ready; while :; do sleep 0.05; done"
    )
    script = f'sh -c "{leftover}" & while [ ! -e ready ]; do sleep 0.01; done; exit 4'
    p = single("sh", "-c", script)
    assert p.wait() == 4
    assert read_lines(tmp_path / "flushed") == ["flushed"]


# The command signals pilot as its first statement: pilot, which starts it before its event
# loop exists, is then still importing, and must pass the signal on once it handles signals.
SIGNALS_PILOT_AT_ONCE = (
    "trap 'echo {name} > got; exit {code}' {name}; kill -{name} $PPID; while :; do sleep 0.01; done"
)


@pytest.mark.parametrize("pid1", [True, False], ids=["pid1", "not-pid1"])
def test_a_signal_sent_to_pilot_as_the_command_starts_reaches_it(
    single: Callable[..., Single], tmp_path: Path, pid1: bool
) -> None:
    """A signal pilot receives before its event loop is up (SIGUSR1, forwarded) is recorded
    and passed on once it is: not lost, and pilot (not PID 1) is not killed by it."""
    p = single("sh", "-c", SIGNALS_PILOT_AT_ONCE.format(name="USR1", code=5), pid1=pid1)
    assert p.wait() == 5, p.stderr.read_text()
    assert read_lines(tmp_path / "got") == ["USR1"]


def test_sigterm_as_the_command_starts_stops_it(
    single: Callable[..., Single], tmp_path: Path
) -> None:
    """A SIGTERM before pilot's loop is up starts the shutdown once it is: the command gets
    it and pilot exits with the command's code (not pilot killed by the default action)."""
    p = single("sh", "-c", SIGNALS_PILOT_AT_ONCE.format(name="TERM", code=7), pid1=False)
    assert p.wait() == 7, p.stderr.read_text()
    assert read_lines(tmp_path / "got") == ["TERM"]


def test_a_command_that_cannot_start_exits_127(single: Callable[..., Single]) -> None:
    """A command that is not there: 127, as a shell says, and one line naming it."""
    p = single("/nonexistent/command")
    assert p.wait() == 127
    assert "cannot run /nonexistent/command" in p.stderr.read_text()
