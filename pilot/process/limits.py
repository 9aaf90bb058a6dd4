"""pilot's own resource limits."""

from __future__ import annotations

import resource

from pilot.log import Log


def raise_fd_limit(log: Log) -> None:
    """Raise the soft limit on open files to the hard limit (jobs inherit it): connections,
    pipes and jobs all cost pilot descriptors, and the usual soft limit, 1024, is soon spent.
    Never fails: a limit that cannot be raised is logged and start-up goes on."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == hard:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (OSError, ValueError) as error:
        log.warn(f"cannot raise the open-file limit from {soft} to {hard}: {error}")
        return
    log.debug(f"open-file limit raised from {soft} to {hard}")
