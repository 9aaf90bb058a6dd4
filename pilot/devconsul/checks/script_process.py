"""The script runner of `pilot consul-dev`, a process where nothing else waits on children:
each script in its own process group, the whole group killed when it times out."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess


def run_in_process_group(args: list[str], timeout: float) -> tuple[int | None, bytes]:
    """Run `args` (stdout and stderr together); (exit code, output), or (None, output so
    far) when it ran past `timeout` and its group was killed.

    Raises:
        OSError: the program cannot be started.
    """
    process = subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        process_group=0,
        close_fds=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        return None, output
    return process.returncode, output
