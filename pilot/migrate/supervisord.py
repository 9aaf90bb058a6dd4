"""`pilot import supervisord.conf`: the programs of a supervisord config as pilot.json5 jobs,
read by supervisor's own parser (the optional extra `pilot-supervisor[supervisord]`); every
option pilot cannot map is named in a comment."""

from __future__ import annotations

import os
import re
import signal
from typing import Any

from pilot.config.errors import ConfigError
from pilot.events import Code
from pilot.migrate.writer import json5_text

MAPPED = {
    "command", "process_name", "numprocs", "numprocs_start", "directory", "user", "environment",
    "autostart", "autorestart", "startretries", "startsecs", "stopsignal", "stopwaitsecs",
    "exitcodes", "priority", "stdout_logfile", "stderr_logfile", "redirect_stderr",
}  # fmt: skip
MAX_PROCS = 1000  # numprocs beyond this is a typo, not a container (each is a job)
_ENV_REFERENCE = re.compile(r"%\(ENV_([A-Za-z_][A-Za-z0-9_]*)\)s")
_MARK = "zpilotenv{}z"  # stands for a ${X} while supervisor reads the file
_MARKS = re.compile(r"zpilotenv(\d+)z")
_CONSOLE = ("/dev/stdout", "/dev/stderr", "/dev/fd/1", "/dev/fd/2", "/proc/self/fd/1")
_SERVER_SECTIONS = ("supervisord", "unix_http_server", "inet_http_server", "supervisorctl")


def import_supervisord(text: str, filename: str, here: str = ".") -> str:
    """pilot.json5 text for the supervisord config `text`.

    Raises:
        ConfigError: supervisor is not installed, or its parser refuses the file.
    """
    try:
        from supervisor.datatypes import RestartWhenExitUnexpected
    except ImportError:
        raise ConfigError(
            filename, "needs supervisor's parser: pip install 'pilot-supervisor[supervisord]'"
        ) from None
    names = sorted(set(_ENV_REFERENCE.findall(text)))
    expansions = {f"ENV_{k}": v for k, v in os.environ.items()}
    expansions.update({f"ENV_{name}": _MARK.format(i) for i, name in enumerate(names)})
    rendered: list[str] = []
    while True:
        try:
            notes, users, explicit, groups = _parse(text, filename, here, expansions)
            break
        except ConfigError:
            raise
        except Exception as error:  # supervisor reports every problem as some exception
            # A variable supervisord itself reads (a number, a boolean): its value now.
            culprits = [int(n) for n in _MARKS.findall(str(error))]
            if not culprits:
                raise ConfigError(filename, f"supervisor refuses it: {error}") from None
            for n in culprits:
                expansions[f"ENV_{names[n]}"] = os.environ.get(names[n], "")
                rendered.append(names[n])
    programs = sorted(
        ((group.name, process) for group in groups for process in group.process_configs),
        key=lambda item: item[1].priority,
    )
    jobs = _jobs(programs, users, explicit, RestartWhenExitUnexpected, notes)
    header = [f"pilot.json5 imported from {filename} (supervisord)"]
    kept = [name for name in names if name not in rendered]
    if kept:
        header.append(
            "%(ENV_X)s became pilot's substitution of X, read when pilot starts (values are "
            "not copied here): " + ", ".join(kept)
        )
    header += [f"%(ENV_{name})s: its current value, as supervisord reads it" for name in rendered]
    text = json5_text([*header, *notes], {"jobs": jobs})
    return _MARKS.sub(lambda m: "${" + names[int(m.group(1))] + "}", text)


def _parse(
    text: str, filename: str, here: str, expansions: dict[str, str]
) -> tuple[list[str], dict[str, str], dict[str, set[str]], list[Any]]:
    """supervisor's reading of `text`: notes, users, each section's options, process groups.

    Raises:
        ConfigError: a numprocs pilot will not import.
        Exception: what supervisor's parser refuses.
    """
    from supervisor.options import ServerOptions, UnhosedConfigParser

    options = ServerOptions()
    options.here = here
    options.environ_expansions = expansions
    parser = UnhosedConfigParser()
    parser.expansions = expansions
    notes: list[str] = []
    parser.read_string(text, filename)
    users = _take_users(parser)
    explicit = {section: set(parser.options(section)) for section in parser.sections()}
    for section in parser.sections():
        _note_section(parser, section, notes)
        if not section.startswith("program:"):
            parser.remove_section(section)
        elif parser.has_option(section, "numprocs"):
            _check_numprocs(parser.get(section, "numprocs"), f"[{section}] numprocs")
    return notes, users, explicit, options.process_groups_from_parser(parser)


def _check_numprocs(value: str, place: str) -> None:
    try:
        count = int(value)
    except ValueError:
        return  # supervisor says what is wrong with it
    if count > MAX_PROCS:
        raise ConfigError(place, f"{count} processes: pilot imports at most {MAX_PROCS}")


def _take_users(parser: Any) -> dict[str, str]:
    """Each program's `user`, taken out of the parser (which would look it up on this host)."""
    users = {}
    for section in parser.sections():
        if section.startswith("program:") and parser.has_option(section, "user"):
            raw = parser.get(section, "user", raw=True)
            users[section] = _ENV_REFERENCE.sub(lambda m: parser.expansions[m.group(0)[2:-2]], raw)
            parser.remove_option(section, "user")
    return users


def _note_section(parser: Any, section: str, notes: list[str]) -> None:
    if section.startswith("program:"):
        for option in parser.options(section):
            if option not in MAPPED:
                notes.append(f"[{section}] {option}: not mapped (pilot has no such option)")
    elif section.split(":")[0] in _SERVER_SECTIONS or section.startswith("rpcinterface:"):
        notes.append(f"[{section}]: not needed (pilot's control socket and `pilot ctl` replace it)")
    else:
        notes.append(f"[{section}]: not mapped (pilot runs [program:x] sections only)")


def _jobs(
    programs: list[tuple[str, Any]],
    users: dict[str, str],
    explicit: dict[str, set[str]],
    unexpected: Any,
    notes: list[str],
) -> list[dict[str, Any]]:
    """Jobs in start order (supervisord's priority): each level waits for the one before."""
    jobs: list[dict[str, Any]] = []
    levels = sorted({program.priority for _, program in programs})
    by_level: dict[int, list[str]] = {}
    for _, program in programs:
        by_level.setdefault(program.priority, []).append(_name(program))
    for group, program in programs:
        section = f"program:{group}"
        job = _job(program, users.get(section), explicit[section], unexpected, notes)
        level = levels.index(program.priority)
        if level:  # priority is start order: wait for the programs before to have started
            earlier = by_level[levels[level - 1]]
            job["when"] = {
                "all": [{"source": name, "once": Code.STARTED.value} for name in earlier]
            }
        jobs.append(job)
    if len(jobs) > 1:
        jobs[0]["main"] = True
        notes.append(
            f"supervisord has no main program: pilot exits when {jobs[0]['name']!r} is over "
            "(mark another job main: true)"
        )
    return jobs


def _job(
    program: Any, user: str | None, explicit: set[str], unexpected: Any, notes: list[str]
) -> dict[str, Any]:
    """The job of one process; `explicit` are the options its section sets."""
    name = _name(program)
    job: dict[str, Any] = {"name": name, "exec": program.command}
    if program.directory:
        job["cwd"] = program.directory
    if user:
        job["user"] = user
    if program.environment:
        job["env"] = dict(program.environment)
    if not program.autostart:
        notes.append(f"{name}: autostart=false is not mapped: it starts with pilot")
    if program.autorestart is False:
        job["restarts"] = "never"
    else:
        job["restarts"] = "unlimited"
        if program.autorestart is unexpected:  # only exits not in exitcodes
            job["restart_on"] = "failure"
    if list(program.exitcodes) != [0]:
        job["success_codes"] = list(program.exitcodes)
    job["stop"] = {
        "signal": signal.Signals(program.stopsignal).name,
        "timeout": f"{program.stopwaitsecs}s",
    }
    if program.stdout_logfile in _CONSOLE and (
        program.redirect_stderr or program.stderr_logfile in _CONSOLE
    ):
        job["logging"] = {"raw": True}
    elif explicit & {"stdout_logfile", "stderr_logfile"}:
        notes.append(f"{name}: output goes to pilot's stdout/stderr (log files are not written)")
    if explicit & {"startretries", "startsecs"}:
        notes.append(f"{name}: startretries/startsecs: pilot backs off between restarts instead")
    return job


def _name(program: Any) -> str:
    return str(program.name).replace(":", "-").replace(" ", "_")
