"""The one way pilot starts a process: its own process group, default signals, pipes for output."""

from __future__ import annotations

import contextlib
import errno
import os
import pwd
import signal
import subprocess
from collections.abc import Callable, Mapping
from typing import NamedTuple


class SpawnRequest(NamedTuple):
    """Everything needed to start one process (a tuple, not a dataclass: `pilot --` spawns
    before the dataclass machinery is imported)."""

    argv: tuple[str, ...]
    env: Mapping[str, str]
    cwd: str | None = None
    user: str | int | None = None
    group: str | int | None = None
    capture: bool = True
    inherit_stdin: bool = False
    terminal: int | None = None  # a tty fd the process takes as its foreground before exec


class SpawnError(Exception):
    """The command could not be started; `exit_code` is what a shell would report (127, 126)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def spawn(request: SpawnRequest) -> subprocess.Popen[bytes]:
    """Start `request` in a new process group.

    The caller must hand the pid to the Reaper before yielding to the event loop, keep the
    Popen referenced, and set its `returncode` once the Reaper reports the exit, so that
    subprocess's own clean-up never waits on it.

    Raises:
        SpawnError: the command was not found, not executable, or the user/cwd is wrong.
    """
    pipe = subprocess.PIPE if request.capture else None
    try:
        group, extra_groups = _groups(request.user, request.group)
        return subprocess.Popen(
            request.argv,
            env=dict(request.env),
            cwd=request.cwd,
            user=request.user,
            group=group,
            extra_groups=extra_groups,
            process_group=0,
            stdin=None if request.inherit_stdin else subprocess.DEVNULL,
            stdout=pipe,
            stderr=pipe,
            close_fds=True,
            restore_signals=True,
            preexec_fn=None if request.terminal is None else _take_terminal(request.terminal),
        )
    except OSError as error:
        code = 127 if error.errno == errno.ENOENT else 126 if error.errno == errno.EACCES else 1
        what = error.filename or request.argv[0]
        raise SpawnError(f"cannot run {what}: {error.strerror}", code) from None
    except (ValueError, KeyError, subprocess.SubprocessError) as error:
        raise SpawnError(f"cannot run {request.argv[0]}: {error}", 1) from None


def _groups(
    user: str | int | None, group: str | int | None
) -> tuple[str | int | None, list[int] | None]:
    """The primary group and the supplementary groups of a job run as `user`, as gosu and
    su-exec set them: the user's own primary group and its groups from /etc/group, unless a
    group is given (then that group alone). A numeric uid unknown to /etc/passwd gets gid 0,
    as `docker run --user` gives it."""
    if user is None:
        return group, None
    if group is not None:
        return group, []
    try:
        entry = passwd_entry(str(user))
    except KeyError:
        if str(user).isascii() and str(user).isdigit():
            return 0, []
        raise
    return entry.pw_gid, os.getgrouplist(entry.pw_name, entry.pw_gid)


def passwd_entry(user: str) -> pwd.struct_passwd:
    """/etc/passwd's entry for a user name or a numeric uid.

    Raises:
        KeyError: no such user.
    """
    return pwd.getpwuid(int(user)) if user.isascii() and user.isdigit() else pwd.getpwnam(user)


def _take_terminal(fd: int) -> Callable[[], None]:
    """What the child runs between fork and exec to become the foreground group of the
    terminal `fd`, as tini does: a shell that started in the background (`bash -m`) would
    stop itself with SIGTTIN before a hand-over from the parent, and nothing would wake it.

    subprocess has already put the child in its own group. This runs Python in a forked
    child, which is unsafe only around locks other threads held at the fork: it takes none
    (no import, no I/O object, two system calls) and is used for the one terminal job only.
    """

    def take() -> None:
        signal.signal(signal.SIGTTOU, signal.SIG_IGN)  # a background group may not set it
        with contextlib.suppress(OSError):  # no controlling terminal after all: it still runs
            os.tcsetpgrp(fd, os.getpgrp())
        signal.signal(signal.SIGTTOU, signal.SIG_DFL)

    return take


def foreground_terminal() -> int | None:
    """stdin, when it is a terminal whose foreground group is pilot's (`docker run -it`)."""
    try:
        if os.isatty(0) and os.tcgetpgrp(0) == os.getpgrp():
            return 0
    except OSError:
        pass
    return None
