"""Soft reload, reading side: the config file as it is now, checked whole, off the loop. What
changes is decided by `app.plan` and applied by the supervisor alone: unchanged jobs keep
running (same pid, same registration); changed jobs are stopped and started again; removed jobs
are stopped and deregistered; new jobs start (a `once` event that already happened starts them
at once). Watches and templates are diffed the same way. A bad config changes nothing."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from pilot.config.errors import ConfigError, ConfigErrors
from pilot.config.model import Config
from pilot.interface.commands import CommandError
from pilot.log import Log
from pilot.process.threads import in_thread
from pilot.render.envfiles import DecodedFile, decode_files, write_files
from pilot.render.sources import check_template_sources

Loader = Callable[[str, Mapping[str, str]], Config]


async def read_reload(
    load: Loader, path: str, environ: dict[str, str], log: Log
) -> tuple[Config, list[DecodedFile]]:
    """The config at `path` read by `load`, checked, and its files decoded (not written).

    Raises:
        CommandError(400): the new config is invalid (logged; nothing changed).
    """
    try:
        # Off the loop: a large config must not stall signals, the control socket or jobs.
        return await in_thread(lambda: _read(load, path, environ), "reload")
    except ConfigError as error:
        log.error(f"reload rejected, nothing changed: {error}")
        raise CommandError(400, f"reload rejected: {error}") from None


def write_reload_files(files: list[DecodedFile], log: Log) -> None:
    """Write the new config's files from the environment.

    Raises:
        CommandError(400): one cannot be written (logged; nothing changed).
    """
    try:
        write_files(files)
    except ConfigError as error:
        log.error(f"reload rejected, nothing changed: {error}")
        raise CommandError(400, f"reload rejected: {error}") from None


def _read(load: Loader, path: str, environ: dict[str, str]) -> tuple[Config, list[DecodedFile]]:
    """Load, check and decode the config file at `path`.

    Raises:
        ConfigError: every problem found (a ConfigErrors when there are several).
    """
    new = load(path, environ)
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
