"""Soft reload: re-read the config and touch only what changed. Unchanged jobs keep running
(same pid, same registration); changed jobs are stopped and started again; removed jobs are
stopped and deregistered; new jobs start (a `once` event that already happened starts them at
once). Watches and templates are diffed the same way. A bad config changes nothing."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from pilot.config.errors import ConfigError, ConfigErrors
from pilot.config.model import Config
from pilot.interface.commands import CommandError
from pilot.process.threads import in_thread
from pilot.render.envfiles import DecodedFile, decode_files, exported_paths, write_files
from pilot.render.sources import check_template_sources

if TYPE_CHECKING:
    from pilot.app.supervisor import Supervisor

FIXED = ("consul", "control", "telemetry")  # settings a running pilot cannot change


async def reload_config(app: Supervisor) -> None:
    """Apply the config file as it is now.

    Raises:
        CommandError(400): the new config is invalid, or changes what only a restart can.
    """
    environ = {**os.environ, **app.environment.overrides}
    try:
        # Off the loop: a large config must not stall signals, the control socket or jobs.
        new, files = await in_thread(lambda: _read(app, app.config.path, environ), "reload")
    except ConfigError as error:
        app.log.error(f"reload rejected, nothing changed: {error}")
        raise CommandError(400, f"reload rejected: {error}") from None
    fixed = [key for key in FIXED if getattr(new, key) != getattr(app.config, key)]
    if fixed:
        message = f"reload rejected: {', '.join(fixed)} cannot change while pilot runs; restart it"
        app.log.error(message)
        raise CommandError(400, message)
    if app.shutting_down:
        raise CommandError(400, "reload rejected: pilot is shutting down")
    try:
        write_files(files)
    except ConfigError as error:
        app.log.error(f"reload rejected, nothing changed: {error}")
        raise CommandError(400, f"reload rejected: {error}") from None
    app.environment.set_exports(exported_paths(files))
    await _apply(app, new)
    app.log.info("config reloaded")


def _read(app: Supervisor, path: str, environ: dict[str, str]) -> tuple[Config, list[DecodedFile]]:
    """Load (as `app` runs it), check and decode the config file at `path`.

    Raises:
        ConfigError: every problem found (a ConfigErrors when there are several).
    """
    new = app.load(path, environ)
    problems = check_template_sources(new)
    try:
        files = decode_files(new.files, environ)
    except ConfigError as error:
        problems.extend(error.errors)
    if new.uses_consul:
        from pilot.consul.addresses import check_job_addresses

        try:
            check_job_addresses(new)
        except ConfigError as error:
            problems.extend(error.errors)
    if problems:
        raise ConfigErrors(problems)
    return new, list(files)


async def _apply(app: Supervisor, new: Config) -> None:
    old_jobs = {job.name: job for job in app.config.jobs}
    new_jobs = {job.name: job for job in new.jobs}
    unchanged = {name for name, cfg in new_jobs.items() if old_jobs.get(name) == cfg}
    retired = [app.jobs[name] for name in old_jobs if name not in unchanged]
    jobs = {name: app.jobs[name] for name in unchanged}
    app.log.info(
        "reloading",
        unchanged=len(unchanged),
        stopped=len(retired),
        started=len(new_jobs) - len(unchanged),
    )
    app.jobs = dict(jobs)  # from now on a retired job ending (even the main one) is not noticed
    if app.discovery is not None:
        await app.discovery.retire({job.name for job in retired})
    for job in retired:
        await job.stop()
    app.config = new
    for name, cfg in new_jobs.items():
        jobs[name] = jobs.get(name) or app.make_job(cfg)
    ordered = {cfg.name: jobs[cfg.name] for cfg in new.jobs}
    app.triggers.replace_jobs(ordered)
    app.jobs = ordered
    app.main = app.jobs[new.main_job.name]
    app.log.configure(new.logging.level, new.logging.format, tuple(app.jobs))
    app.health.set_jobs(new.jobs)
    if app.discovery is not None:
        app.discovery.reconfigure(new, {job.name for job in retired})
        if app.templates is not None:
            app.templates.reconfigure(new)
        elif new.templates:
            app.start_templates()
    elif new.uses_consul:
        app.start_discovery()
    for name, job in app.jobs.items():
        if name not in unchanged:
            app.triggers.arm(job)
