"""The environment each run of a job starts with."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from pilot.config.model import JobConfig
from pilot.process.spawn import passwd_entry


class Environment:
    """pilot's own environment, plus exported file paths, pilot's variables (pids, those of
    `sources` such as discovery's addresses, then the job's own of `job_sources`), the job's
    `env`, and variables set at run time (`putenv`), in that order of precedence."""

    def __init__(
        self,
        exports: Mapping[str, str],
        running_pids: Callable[[], Mapping[str, int]],
        prefixes: tuple[str, ...] = ("PILOT",),
        sources: tuple[Callable[[], Mapping[str, str]], ...] = (),
        job_sources: tuple[Callable[[JobConfig], Mapping[str, str]], ...] = (),
    ) -> None:
        self._base = dict(os.environ)
        self._exports = dict(exports)
        self._running_pids = running_pids
        self._prefixes = prefixes  # of <PREFIX>_<JOB>_PID (a ContainerPilot config: both)
        self._sources, self._job_sources = sources, job_sources
        self._overrides: dict[str, str] = {}

    @property
    def overrides(self) -> dict[str, str]:
        """The variables set at run time (a copy)."""
        return dict(self._overrides)

    def put(self, values: Mapping[str, str]) -> None:
        """Set variables for every next run (`putenv`)."""
        self._overrides.update(values)

    def put_default(self, name: str, value: str) -> None:
        """Set `name` unless it was set at run time already."""
        self._overrides.setdefault(name, value)

    def set_exports(self, exports: Mapping[str, str]) -> None:
        """Replace the exported file paths (after a reload)."""
        self._exports = dict(exports)

    def base(self) -> dict[str, str]:
        """The environment of commands that belong to no job (template checks and actions)."""
        env = dict(self._base)
        env.update(self._exports)
        env["PILOT_PID"] = str(os.getpid())
        for source in self._sources:
            env.update(source())
        env.update(self._overrides)
        return env

    def for_job(self, job: JobConfig) -> dict[str, str]:
        """The environment of `job`'s next run."""
        env = dict(self._base)
        env.update(self._exports)
        env["PILOT_PID"] = str(os.getpid())
        for name, pid in self._running_pids().items():
            for prefix in self._prefixes:
                env[f"{prefix}_{name.upper().replace('-', '_')}_PID"] = str(pid)
        for source in self._sources:
            env.update(source())
        for job_source in self._job_sources:
            env.update(job_source(job))
        if job.user is not None:
            env.update(_identity(job.user))
        env.update(dict(job.env))
        env.update(self._overrides)
        return env


def _identity(user: str) -> dict[str, str]:
    entry = passwd_entry(user)
    return {"HOME": entry.pw_dir, "USER": entry.pw_name, "LOGNAME": entry.pw_name}
