"""`watch`: a job is rebuilt and restarted when files under its paths change (inotify through
watchfiles, debounced: one rebuild for a burst of saves)."""

from __future__ import annotations

import contextlib
import fnmatch
import os
from collections.abc import Awaitable, Callable
from typing import Any

from pilot.config.up_model import FileWatch
from pilot.interface.commands import CommandError
from pilot.log import Log


async def watch_files(
    job: str, spec: FileWatch, base: str, act: Callable[[str], Awaitable[None]], log: Log
) -> None:
    """Call `act(job)` after each burst of changes under `spec.paths` (relative to `base`),
    until cancelled; a failed build is logged by `act` and the watch goes on."""
    from watchfiles import DefaultFilter, awatch

    paths = [os.path.join(base, path) for path in spec.paths]
    missing = [path for path in paths if not os.path.exists(path)]
    if missing:
        log.error(f"{job}: cannot watch {', '.join(missing)}: no such path", job=job)
        return

    class Filter(DefaultFilter):
        def __call__(self, change: Any, path: str) -> bool:
            relative = os.path.relpath(path, base)
            name = os.path.basename(path)
            if any(
                fnmatch.fnmatch(name, pattern) or fnmatch.fnmatch(relative, pattern)
                for pattern in spec.ignore
            ):
                return False
            return bool(super().__call__(change, path))

    quiet = max(1, int(spec.debounce * 1000))
    log.debug(f"{job}: watching {', '.join(paths)}", job=job)
    async for changes in awatch(
        *paths, watch_filter=Filter(), step=quiet, debounce=max(quiet * 10, 1600)
    ):
        first = os.path.relpath(sorted(path for _, path in changes)[0], base)
        more = f" and {len(changes) - 1} more" if len(changes) > 1 else ""
        log.info(f"{job}: {first}{more} changed", job=job)
        with contextlib.suppress(CommandError):  # a failed build: logged, the old one serves on
            await act(job)
