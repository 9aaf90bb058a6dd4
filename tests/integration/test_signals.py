"""Signals to pilot: forwarding, job control, and what children inherit."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.helpers import PYTHON, REPO, SIGNAL_RECORDER, Pilot, read_lines, scaled, wait_for


def recorder(name: str, tmp_path: Path, **extra: object) -> dict[str, object]:
    return {"name": name, "exec": [*SIGNAL_RECORDER, str(tmp_path / name)], **extra}


def test_sighup_reaches_only_jobs_that_forward_it(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    """SIGHUP to pilot is passed to a job listing it in forward and not to one that does not."""
    config = {
        "jobs": [
            recorder("hup", tmp_path, main=True, forward=["SIGHUP"]),
            recorder("other", tmp_path, forward=["SIGUSR1"]),
        ]
    }
    p = pilot(config)
    wait_for(
        lambda: (tmp_path / "hup.ready").exists() and (tmp_path / "other.ready").exists(),
        10,
        message="recorders ready",
    )
    p.signal(signal.SIGHUP)
    wait_for(lambda: read_lines(tmp_path / "hup") == ["SIGHUP"], 5, message="SIGHUP forwarded")
    p.signal(signal.SIGUSR1)  # handled after SIGHUP, so "other" would have seen SIGHUP first
    wait_for(lambda: read_lines(tmp_path / "other"), 5, message="SIGUSR1 forwarded")
    assert read_lines(tmp_path / "other") == ["SIGUSR1"]
    assert read_lines(tmp_path / "hup") == ["SIGHUP"]


def test_sigpwr_starts_a_clean_shutdown_like_sigterm(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    """SIGPWR (`lxc stop`, Incus) shuts pilot down: the job gets its stop signal (SIGTERM),
    and one that lists SIGPWR in `forward` gets SIGPWR instead."""
    config = {
        "jobs": [
            recorder("app", tmp_path, main=True),
            recorder("power", tmp_path, forward=["SIGPWR"]),
        ]
    }
    p = pilot(config)
    wait_for(
        lambda: (tmp_path / "app.ready").exists() and (tmp_path / "power.ready").exists(),
        10,
        message="recorders ready",
    )
    p.signal(signal.SIGPWR)
    assert p.wait() == 0, p.output
    assert "received SIGPWR, shutting down" in p.output
    assert read_lines(tmp_path / "app") == ["SIGTERM"]
    assert read_lines(tmp_path / "power") == ["SIGPWR"]


def test_job_control_signals_never_stop_pilot(pilot: Callable[..., Pilot], tmp_path: Path) -> None:
    """SIGTSTP, SIGTTIN and SIGTTOU leave pilot running and responsive."""
    p = pilot({"jobs": [recorder("app", tmp_path, forward=["SIGUSR2"])]})
    wait_for(lambda: (tmp_path / "app.ready").exists(), 10, message="recorder ready")
    for signum in (signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU):
        p.signal(signum)
    p.signal(signal.SIGUSR2)
    wait_for(lambda: read_lines(tmp_path / "app") == ["SIGUSR2"], 5, message="pilot still forwards")
    state = Path(f"/proc/{p.pilot_pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    assert state != "T"


def test_children_start_with_default_signals_and_empty_mask(tmp_path: Path) -> None:
    """Even when pilot inherits ignored and blocked signals, its jobs start with neither."""
    config = tmp_path / "pilot.json5"
    config.write_text(
        '{jobs: [{name: "app", exec: ["grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status"]}]}'
    )
    launcher = (
        "import os, signal, sys\n"
        "signal.signal(signal.SIGUSR1, signal.SIG_IGN)\n"
        "signal.signal(signal.SIGQUIT, signal.SIG_IGN)\n"
        "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGUSR2})\n"
        "os.execv(sys.executable, [sys.executable, '-m', 'pilot', 'run', '-c', sys.argv[1]])\n"
    )
    result = subprocess.run(
        [PYTHON, "-c", launcher, str(config)],
        capture_output=True,
        text=True,
        timeout=scaled(20),
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 0, result.stderr
    assert "SigBlk:\t0000000000000000" in result.stdout
    assert "SigIgn:\t0000000000000000" in result.stdout


def test_a_job_with_terminal_gets_the_terminal(tmp_path: Path) -> None:
    """With a terminal, the job that asks for it (`terminal: true`) is its foreground process
    group and sees it as stdin."""
    config = tmp_path / "pilot.json5"
    probe = "import os; print('fg', os.tcgetpgrp(0) == os.getpgrp(), os.isatty(1), flush=True)"
    config.write_text(
        f'{{jobs: [{{name: "app", terminal: true, exec: ["{PYTHON}", "-c", "{probe}"]}}]}}'
    )
    pid, master = pty.fork()
    if pid == 0:  # the child is a session leader with the pty as its controlling terminal
        os.environ["PYTHONPATH"] = str(REPO)
        os.execv(PYTHON, [PYTHON, "-m", "pilot", "run", "-c", str(config)])
    output = b""
    try:
        while b"fg " not in output or not output.endswith(b"\n"):
            ready, _, _ = select.select([master], [], [], scaled(10))
            assert ready, f"no answer from the job: {output!r}"
            output += os.read(master, 4096)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(master)
    assert b"fg True True" in output
    assert os.waitstatus_to_exitcode(status) == 0
