"""Which process holds a socket: the /proc/<pid>/fd links that name it."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Collection


def socket_holder(inodes: Collection[int]) -> int | None:
    """The pid of a process (the first found) with an open file descriptor on one of the
    sockets numbered `inodes`; None when /proc shows none (gone, or not ours to inspect).
    Reads every process's fd links until one matches: about 1 ms for 70 processes."""
    targets = {f"socket:[{inode}]" for inode in inodes}
    if not targets:
        return None
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{pid}/fd/{fd}") in targets:
                        return int(pid)
    return None
