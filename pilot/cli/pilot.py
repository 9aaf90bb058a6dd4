"""Command line: argument parsing only, one function per sub-command."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    import argparse

    from pilot.config.errors import ConfigError
    from pilot.config.model import Config
    from pilot.config.up_mode import PortAllocator
    from pilot.log import Log
    from pilot.process.early import EarlyRun
    from pilot.render.envfiles import DecodedFile

COMMANDS = (
    "run",
    "up",
    "logs",
    "traffic",
    "validate",
    "render",
    "schema",
    "ctl",
    "consul-dev",
    "convert",
    "import",
)
CONFIG_HELP = "path of pilot.json5, - for standard input (default: $PILOT_CONFIG)"
SINGLE_OPTIONS = ("-v", "--verbose", "--socket")  # of `pilot [OPTIONS] -- CMD`


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `pilot` command; returns the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] == "consul-dev":
        from pilot.devconsul.cli import main as consul_dev

        code: int = consul_dev(args_list[1:])
        return code
    if args_list and args_list[0] == "ctl":
        from pilot.cli.ctl import main as ctl

        return ctl(args_list[1:])
    if args_list and args_list[0] == "logs":
        from pilot.cli.logs import main as logs

        return logs(args_list[1:])
    if args_list and args_list[0] == "traffic":
        from pilot.cli.traffic import main as traffic

        return traffic(args_list[1:])
    if args_list and args_list[0] in ("convert", "import"):
        from pilot.migrate.command import main as migrate

        return migrate(args_list)
    if "--" in args_list and args_list[0].partition("=")[0] in ("--", *SINGLE_OPTIONS):
        split = args_list.index("--")
        return cmd_single(args_list[:split], args_list[split + 1 :])
    plain_run = _plain_run(args_list)
    if plain_run is not None:  # what argparse would make of it, without argparse's 0.4 MiB
        return run_config(plain_run)
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
        "up": cmd_up,
        "validate": cmd_validate,
        "render": cmd_render,
        "schema": cmd_schema,
    }[args.command]
    return handler(args)


def _plain_run(args: list[str]) -> str | None:
    """The config path of the usual container command, `pilot run -c PATH` or `pilot -c
    PATH` (`--config` alike); None for anything else, which argparse reads."""
    if args[:1] == ["run"]:
        args = args[1:]
    if len(args) == 2 and args[0] in ("-c", "--config") and not args[1].startswith("-"):
        return args[1]
    return None


def _parser() -> argparse.ArgumentParser:
    import argparse  # not for `pilot -- CMD`, which has no options

    class _Version(argparse.Action):
        """`--version`: the package metadata is read only when the version is asked for."""

        def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> NoReturn:
            import pilot

            print(f"pilot {pilot.__version__}")
            parser.exit()

    parser = argparse.ArgumentParser(
        prog="pilot",
        description="A PID-1 supervisor for containers that organise themselves through Consul.",
        epilog="pilot [-v] [--socket PATH] -- CMD ARGS... runs one command as PID 1 without a "
        "config (as tini): -v tells what it starts and reaps, --socket serves pilot ctl there.",
    )
    parser.add_argument("--version", action=_Version, nargs=0, help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = sub.add_parser(
        "run",
        help="supervise the jobs of a config (the container's ENTRYPOINT)",
        description="supervise the jobs of a config (the container's ENTRYPOINT)",
    )
    up = sub.add_parser(
        "up",
        help="run a development stack: embedded registry, kept ports, addresses injected",
        description="run a config's jobs as a development stack until Ctrl-C (docs/up.md)",
    )
    up.add_argument(
        "-c",
        "--config",
        default=os.environ.get("PILOT_CONFIG", "pilot.json5"),
        help="path of pilot.json5 (default: $PILOT_CONFIG, else pilot.json5)",
    )
    validate = sub.add_parser(
        "validate", help="check a config", description="check a config; exit 2 on an error"
    )
    validate.add_argument(
        "--print",
        action="store_true",
        help="print the config normalised (defaults filled in, secrets masked)",
    )
    validate.add_argument(
        "--up",
        action="store_true",
        help="check it as `pilot up` reads it (the default when only pilot up can run it)",
    )
    render = sub.add_parser("render", help="render every template once from the live registry")
    render.add_argument(
        "--dry-run", action="store_true", help="print the results instead of writing them"
    )
    for command in (run, validate, render):
        command.add_argument(
            "-c", "--config", default=os.environ.get("PILOT_CONFIG"), help=CONFIG_HELP
        )
    sub.add_parser("schema", help="print the JSON Schema of pilot.json5")
    sub.add_parser("convert", help="write pilot.json5 for a ContainerPilot config")
    sub.add_parser("import", help="write pilot.json5 for a supervisord config")
    sub.add_parser("ctl", help="control a running pilot (see `pilot ctl --help`)")
    sub.add_parser("logs", help="the output of one job or several (see `pilot logs --help`)")
    sub.add_parser(
        "traffic", help="monitored HTTP exchanges of pilot up (see `pilot traffic --help`)"
    )
    sub.add_parser(
        "consul-dev",
        help="run the embedded Consul-compatible registry (see `pilot consul-dev --help`)",
    )
    return parser


def _load(
    path: str | None, up: PortAllocator | None = None
) -> tuple[Config, list[DecodedFile]] | None:
    """The config (with `up`, as `pilot up` runs it) and its decoded files, or None once every
    error has been printed."""
    from pilot.config.errors import ConfigError
    from pilot.config.load import load_config
    from pilot.render.envfiles import decode_files
    from pilot.render.sources import check_template_sources

    if not path:
        print("pilot: no config: give -c FILE or set PILOT_CONFIG", file=sys.stderr)
        return None
    try:
        config = load_config(path, up=up)
    except ConfigError as error:
        _report(error)
        return None
    for warning in config.warnings:
        print(f"pilot: warning: {warning}", file=sys.stderr)
    problems = check_template_sources(config)
    try:
        files = decode_files(config.files, os.environ)
    except ConfigError as error:
        problems.extend(error.errors)
    if problems:
        for problem in problems:
            _report(problem)
        return None
    return config, files


def _report(error: ConfigError) -> None:
    """Print every problem `error` stands for, one a line."""
    for one in error.errors:
        print(f"pilot: {one}", file=sys.stderr)


def cmd_run(args: argparse.Namespace) -> int:
    """Supervise the config's jobs; exit with the main job's code."""
    return run_config(args.config)


def run_config(path: str | None) -> int:
    """`pilot run -c PATH`: supervise the config's jobs; exit with the main job's code."""
    from pilot.process.signals import reset_inherited_signals

    reset_inherited_signals()
    loaded = _load(path)
    if loaded is None:
        return 2
    _supervise(*loaded)


def cmd_up(args: argparse.Namespace) -> int:
    """Run a development stack until Ctrl-C (docs/up.md)."""
    from pilot.process.signals import reset_inherited_signals
    from pilot.up.stack import already_up, prepare, stack_config

    reset_inherited_signals()
    args.config = os.path.abspath(args.config)
    if not os.path.isfile(args.config):
        print(f"pilot up: no {args.config}: give -c FILE", file=sys.stderr)
        return 2
    if already_up(args.config):
        print(f"pilot up: already running for {args.config}", file=sys.stderr)
        return 2
    from pilot.config.errors import ConfigError

    try:
        ports = prepare(args.config).allocate
    except ConfigError as error:
        _report(error)
        return 2
    loaded = _load(args.config, ports)
    if loaded is None:
        return 2
    _supervise(stack_config(loaded[0]), loaded[1], ports)


def cmd_single(options: list[str], argv: list[str]) -> int:
    """`pilot [-v] [--socket PATH] -- CMD ARGS...`: run one command as the main job, without a
    config. The command is started first, before anything else is imported (`EarlyRun`),
    unless pilot serves a control socket: that must listen before the command starts."""
    from pilot.log import Log
    from pilot.process.signals import reset_inherited_signals

    socket, verbose = None, False
    if options:  # argparse only when there is something to parse: `pilot -- CMD` starts light
        import argparse

        parser = argparse.ArgumentParser(prog="pilot [-v] [--socket PATH] -- CMD ARGS...")
        parser.add_argument("-v", "--verbose", action="store_true", help="log starts and exits")
        parser.add_argument("--socket", help="serve the control socket (pilot ctl) at PATH")
        args = parser.parse_args(options)
        socket, verbose = args.socket, args.verbose
    reset_inherited_signals()
    log = Log("info" if verbose else "warn")
    early = None
    if socket is None and argv and argv[0]:  # a command single_command_config accepts
        from pilot.process.early import EarlyRun

        early = EarlyRun(argv, log)
    from pilot.config.errors import ConfigError
    from pilot.config.single import single_command_config

    try:
        config = single_command_config(argv, socket, verbose)
    except ConfigError as error:
        _report(error)
        if early is not None:
            early.abandon()
        return 2
    _supervise(config, [], log=log, early=early)


def _supervise(
    config: Config,
    files: list[DecodedFile],
    ports: PortAllocator | None = None,
    *,
    log: Log | None = None,
    early: EarlyRun | None = None,
) -> NoReturn:
    import asyncio

    from pilot.log import Log

    names = tuple(job.name for job in config.jobs)
    if log is None:
        log = Log(config.logging.level, config.logging.format, names)
    else:
        log.configure(config.logging.level, config.logging.format, names)
    if ports is None:
        from pilot.app.supervisor import supervise

        running = supervise(config, files, log, early)
    else:
        from pilot.up.stack import supervise_stack

        running = supervise_stack(config, files, log, ports)

    async def supervise_then_exit() -> NoReturn:
        # from inside the loop: closing it (asyncio removes each signal handler, checking it
        # against every valid signal) would only delay the exit (bench/stop.py)
        _exit_now(await running)

    asyncio.run(supervise_then_exit())
    raise AssertionError("unreachable: supervise_then_exit leaves the process")


def _exit_now(code: int) -> NoReturn:
    """Leave without the interpreter's finalisation: every job is gone and the loop is closed,
    and tearing down the modules' objects would add 25-50 ms to every container stop
    (bench/stop.py). Only `run` does this: it owns the process (signals, subreaper)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more to say
            stream.flush()
    os._exit(code)


def cmd_validate(args: argparse.Namespace) -> int:
    """Check a config: one line saying what it holds, or with --print the config normalised
    (defaults filled in, unset options left out, secrets masked). A file only `pilot up` can
    run (`port: "auto"`, `monitor`, `watch`...) is checked as `pilot up` reads it."""
    up = args.up or (args.config not in ("-", None) and _only_up_runs(args.config))
    loaded = _load(args.config, _dry_ports() if up else None)
    if loaded is None:
        return 2
    config = loaded[0]
    if args.print:
        import json

        from pilot.config.sections import dump_section

        print(json.dumps(dump_section(config), indent=2))
        return 0
    name = "<stdin>" if args.config == "-" else os.path.basename(args.config)
    if config.dialect != "pilot.json5":
        from pilot.migrate.command import native_equivalent

        print(f"pilot: {name} is valid, read as {config.dialect}: {summary(config)}")
        print(native_equivalent(args.config), end="")
        return 0
    if up:
        print(f"pilot: {name} is valid for pilot up: {summary(config, main=False)}")
        return 0
    print(f"pilot: {name} is valid: {summary(config)}")
    return 0


def _only_up_runs(path: str) -> bool:
    """Whether the file asks for what only `pilot up` does (`pilot run` refuses it for that)."""
    from pilot.config.errors import ConfigError
    from pilot.config.load import load_config

    try:
        load_config(path)
    except ConfigError as error:
        return any("for pilot up" in one.message for one in error.errors)
    return False


def _dry_ports() -> PortAllocator:
    """Ports for checking a `pilot up` file: distinct, and nothing kept or probed."""
    given: dict[str, int] = {}
    return lambda key, _place: given.setdefault(key, 49152 + len(given))


def summary(config: Config, main: bool = True) -> str:
    """What a config holds, in a few words: `3 jobs (main: web), 1 watch, 1 template`."""
    from pilot.config.model import Ending

    counts = [
        (len(config.jobs), "job", "jobs"),
        (len(config.watches), "watch", "watches"),
        (len(config.templates), "template", "templates"),
        (len(config.files), "file", "files"),
    ]
    parts = [f"{n} {one if n == 1 else many}" for n, one, many in counts if n or one == "job"]
    if main:
        parts[0] += {
            Ending.MAIN_JOB: f" (main: {config.main_job.name})",
            Ending.EVERY_JOB: " (runs until every job is over)",
            Ending.NEVER: " (runs until stopped)",
        }[config.ending]
    return ", ".join(parts)


def cmd_render(args: argparse.Namespace) -> int:
    """Render every template once (consul-template's -once; --dry-run prints instead)."""
    loaded = _load(args.config)
    if loaded is None:
        return 2
    from pilot.render.once import render_once

    try:
        return render_once(loaded[0], args.dry_run)
    except Exception as error:  # the registry is unreachable or answered nonsense
        print(
            f"pilot: render failed: {str(error).splitlines()[0] if str(error) else error!r}",
            file=sys.stderr,
        )
        return 1


def cmd_schema(args: argparse.Namespace) -> int:
    """Print the JSON Schema of pilot.json5, for editors."""
    import json

    from pilot.config.schema import config_schema

    print(json.dumps(config_schema(), indent=2))
    return 0
