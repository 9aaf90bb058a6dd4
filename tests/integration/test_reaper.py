"""The reaper (pilot/process/reaper.py), the one owner of waitpid, on real children: each case
runs in a Python of its own, whose every child is the case's."""

from __future__ import annotations

import os
import subprocess
import textwrap

from tests.helpers import PYTHON, REPO, scaled

# A child that exits with 5, waited for without being reaped (WNOWAIT): a zombie when it runs.
EXPECTED_CASE = """
    import os, subprocess
    from pilot.process.reaper import Reaper

    orphans, got = [], []
    reaper = Reaper(on_orphan=lambda pid, status: orphans.append(pid))
    child = subprocess.Popen(["sh", "-c", "exit 5"])
    reaper.expect(child.pid)
    {before_exit}
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
    reaper.reap()
    {after_reap}
    reaper.reap()
    stray = subprocess.Popen(["true"])
    os.waitid(os.P_PID, stray.pid, os.WEXITED | os.WNOWAIT)
    reaper.reap()
    print([os.waitstatus_to_exitcode(status) for status in got], orphans == [stray.pid])
"""


def run_case(before_exit: str = "", after_reap: str = "") -> str:
    code = textwrap.dedent(EXPECTED_CASE).format(before_exit=before_exit, after_reap=after_reap)
    result = subprocess.run(
        [PYTHON, "-c", code],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=scaled(20),
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_an_expected_child_that_exits_before_it_is_watched_keeps_its_status() -> None:
    """A job started before the loop exits and is reaped before its Job watches it: the
    status is kept, delivered at the next sweep once watched, and not taken for an orphan's;
    a later unwatched child is an orphan again."""
    assert run_case(after_reap="reaper.watch(child.pid, got.append)") == "[5] True"


def test_an_expected_child_watched_before_it_exits_is_delivered_once() -> None:
    """Watched before it exits, an expected child is delivered like any other, once."""
    assert run_case(before_exit="reaper.watch(child.pid, got.append)") == "[5] True"
