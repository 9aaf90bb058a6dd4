"""The config of `pilot -- CMD ARGS...`: one main job and no file (pilot as a plain init)."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Sequence

from pilot.config.errors import ConfigError, ConfigErrors
from pilot.config.forwardable import FORWARDABLE
from pilot.config.model import Config
from pilot.config.sections import parse_section
from pilot.config.validate import RESERVED_NAMES, check_config

_NOT_IN_NAME = re.compile(r"[^A-Za-z0-9_-]+")


def single_command_config(
    argv: Sequence[str], socket: str | None = None, verbose: bool = False
) -> Config:
    """A config running `argv` as the main job: its output untouched (`logging.raw`), pilot's
    terminal handed to it (an interactive shell works), every forwardable signal passed on
    (SIGTERM, SIGINT and SIGPWR stop it with themselves), no restart.

    As tini, it is silent but for warnings and errors (`verbose`: what it starts and reaps
    too) and serves no control socket unless given one: `pilot --` runs side by side, and
    nested in a pilot job, whose `PILOT_SOCKET` its command keeps.

    Raises:
        ConfigError: the command is empty or cannot be run as given.
    """
    if not argv or not argv[0]:
        raise ConfigError("pilot --", "give the command to run: pilot -- CMD ARGS...")
    raw = {
        "jobs": [
            {
                "name": job_name(argv[0]),
                "exec": list(argv),
                "main": True,
                "forward": sorted(FORWARDABLE),
                "logging": {"raw": True},
                "terminal": True,
            }
        ],
        "control": {"socket": socket} if socket else {},
        "logging": {"level": "info" if verbose else "warn"},
    }
    config = parse_section(Config, raw, "")
    errors = check_config(config)
    if errors:
        raise ConfigErrors(errors)
    return dataclasses.replace(config, serves_control=socket is not None)


def job_name(command: str) -> str:
    """The job's name, from the command's file name ("/usr/sbin/nginx" gives "nginx")."""
    name = _NOT_IN_NAME.sub("-", os.path.basename(command)).strip("-_")
    if not name[:1].isalpha() or name in RESERVED_NAMES:
        return "main"
    return name
