"""Command line: argument parsing only, one function per sub-command."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from typing import Any, NoReturn

COMMANDS = ("run", "validate", "render", "schema", "ctl", "consul-dev")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `pilot` command; returns the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] == "consul-dev":
        from pilot.devconsul.cli import main as consul_dev

        code: int = consul_dev(args_list[1:])
        return code
    if args_list and args_list[0] == "ctl":
        from pilot.control.client import main as ctl

        return ctl(args_list[1:])
    if (
        args_list
        and args_list[0] not in COMMANDS
        and args_list[0] not in ("-h", "--help", "--version")
    ):
        args_list.insert(0, "run")  # `pilot -c FILE` means `pilot run -c FILE`
    args = _parser().parse_args(args_list)
    if args.command is None:
        _parser().print_help()
        return 2
    handler = {
        "run": cmd_run,
        "validate": cmd_validate,
        "render": cmd_render,
        "schema": cmd_schema,
    }[args.command]
    return handler(args)


class _Version(argparse.Action):
    """`--version`: the package metadata is read only when the version is asked for."""

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> NoReturn:
        import pilot

        print(f"pilot {pilot.__version__}")
        parser.exit()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pilot",
        description="A PID-1 supervisor for containers that organise themselves through Consul.",
    )
    parser.add_argument("--version", action=_Version, nargs=0, help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, text in (
        ("run", "supervise the jobs of a config (the container's ENTRYPOINT)"),
        ("validate", "check a config and print it normalised"),
    ):
        command = sub.add_parser(name, help=text, description=text)
        command.add_argument(
            "-c",
            "--config",
            default=os.environ.get("PILOT_CONFIG"),
            help="path of pilot.json5 (default: $PILOT_CONFIG)",
        )
    render = sub.add_parser("render", help="render every template once from the live registry")
    render.add_argument(
        "-c",
        "--config",
        default=os.environ.get("PILOT_CONFIG"),
        help="path of pilot.json5 (default: $PILOT_CONFIG)",
    )
    render.add_argument(
        "--dry-run", action="store_true", help="print the results instead of writing them"
    )
    sub.add_parser("schema", help="print the JSON Schema of pilot.json5")
    sub.add_parser("ctl", help="control a running pilot (see `pilot ctl --help`)")
    sub.add_parser(
        "consul-dev",
        help="run the embedded Consul-compatible registry (see `pilot consul-dev --help`)",
    )
    return parser


def _load(args: argparse.Namespace) -> tuple[object, list[object]] | None:
    from pilot.config.errors import ConfigError
    from pilot.config.load import load_config
    from pilot.render.envfiles import decode_files

    if not args.config:
        print("pilot: no config: give -c FILE or set PILOT_CONFIG", file=sys.stderr)
        return None
    try:
        config = load_config(args.config)
        files = decode_files(config.files, os.environ)
    except ConfigError as error:
        print(f"pilot: {error}", file=sys.stderr)
        return None
    return config, list(files)


def cmd_run(args: argparse.Namespace) -> int:
    """Supervise the config's jobs; exit with the main job's code."""
    from pilot.app.signals import reset_inherited_signals

    reset_inherited_signals()
    loaded = _load(args)
    if loaded is None:
        return 2
    import asyncio

    from pilot.app.supervisor import Supervisor
    from pilot.config.model import Config
    from pilot.log import Log
    from pilot.render.envfiles import DecodedFile

    config, files = loaded
    assert isinstance(config, Config)
    log = Log(config.logging.level, config.logging.format, tuple(job.name for job in config.jobs))
    decoded = [file for file in files if isinstance(file, DecodedFile)]
    code = asyncio.run(Supervisor(config, decoded, log).run())
    _exit_now(code)


def _exit_now(code: int) -> NoReturn:
    """Leave without the interpreter's finalisation: every job is gone and the loop is closed,
    and tearing down the modules' objects would add 25-50 ms to every container stop
    (bench/stop.py). Only `run` does this: it owns the process (signals, subreaper)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more to say
            stream.flush()
    os._exit(code)


def cmd_validate(args: argparse.Namespace) -> int:
    """Check a config; print it normalised, secrets masked."""
    from pilot.config.kinds import dump_section

    loaded = _load(args)
    if loaded is None:
        return 2
    print(json.dumps(dump_section(loaded[0]), indent=2))
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    """Render every template once (consul-template's -once; --dry-run prints instead)."""
    loaded = _load(args)
    if loaded is None:
        return 2
    from pilot.config.model import Config
    from pilot.render.once import render_once

    config = loaded[0]
    assert isinstance(config, Config)
    try:
        return render_once(config, args.dry_run)
    except Exception as error:  # the registry is unreachable or answered nonsense
        print(
            f"pilot: render failed: {str(error).splitlines()[0] if str(error) else error!r}",
            file=sys.stderr,
        )
        return 1


def cmd_schema(args: argparse.Namespace) -> int:
    """Print the JSON Schema of pilot.json5, for editors."""
    from pilot.config.schema import config_schema

    print(json.dumps(config_schema(), indent=2))
    return 0
