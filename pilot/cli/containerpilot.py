"""The `containerpilot` command: ContainerPilot 3's command line on top of pilot, so images whose
ENTRYPOINT is `containerpilot` and their helper scripts (`containerpilot -putmetric ...`) keep
working. One action per call, chosen in ContainerPilot's order: -version, -template, -reload,
-maintenance, -putenv, -putmetric, -ping; without any, run the config."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field

BOOLS = ("version", "template", "reload", "ping")
STRINGS = ("config", "out", "maintenance")
PAIRS = ("putenv", "putmetric")
USAGE = """Usage of containerpilot:
  -config string       File path to JSON5 configuration file. Defaults to CONTAINERPILOT env var.
  -maintenance string  Toggle maintenance mode: '-maintenance enable' or '-maintenance disable'
  -out string          Where -template writes the rendered config (default stdout, '-')
  -ping                Check that the ContainerPilot control socket is up.
  -putenv value        Update environ of a running ContainerPilot: 'key=value'
  -putmetric value     Update metrics of a running ContainerPilot: 'key=value'
  -reload              Reload a ContainerPilot process through its control socket.
  -template            Render template and quit.
  -version             Show version identifier and quit.
"""


class UsageError(Exception):
    """A command line Go's flag package would refuse."""


@dataclass
class Flags:
    """The parsed command line."""

    bools: set[str] = field(default_factory=set)
    strings: dict[str, str] = field(default_factory=dict)
    pairs: dict[str, dict[str, str]] = field(default_factory=dict)


def parse_flags(argv: list[str]) -> Flags:
    """Go's flag syntax: `-name`, `--name`, `-name=value`, `-name value`; parsing stops at the
    first argument that is not a flag (v2's trailing app command is ignored, as v3 did).

    Raises:
        UsageError: an unknown flag, a missing value, or a pair without '='.
    """
    flags = Flags()
    args = list(argv)
    while args and args[0].startswith("-") and args[0] not in ("-", "--"):
        name, eq, value = args.pop(0).lstrip("-").partition("=")
        if name in BOOLS:
            if eq and value.lower() in ("false", "0", "f"):
                flags.bools.discard(name)
            else:
                flags.bools.add(name)
            continue
        if name in ("h", "help"):
            raise UsageError("")
        if name not in STRINGS and name not in PAIRS:
            raise UsageError(f"flag provided but not defined: -{name}")
        if not eq:
            if not args:
                raise UsageError(f"flag needs an argument: -{name}")
            value = args.pop(0)
        if name in STRINGS:
            flags.strings[name] = value
            continue
        key, sep, item = value.partition("=")
        if not sep:
            raise UsageError(
                f"invalid value {value!r} for flag -{name}: "
                f"flag value '{value}' was not in the format 'key=val'"
            )
        flags.pairs.setdefault(name, {})[key] = item
    return flags


def config_path(flags: Flags) -> str:
    """-config, else $CONTAINERPILOT (v2's `file://` prefix taken off); may be empty."""
    path = flags.strings.get("config") or os.environ.get("CONTAINERPILOT", "")
    return path.removeprefix("file://")


def main(argv: list[str] | None = None) -> int:
    """Entry point of `containerpilot`; returns the exit code."""
    try:
        flags = parse_flags(sys.argv[1:] if argv is None else argv)
    except UsageError as error:
        if str(error):
            print(error, file=sys.stderr)
        print(USAGE, end="", file=sys.stderr)
        return 2
    if "version" in flags.bools:
        from pilot import __version__

        print(f"Version: {__version__} (pilot, ContainerPilot 3.8 compatible)\nGitHash: pilot")
        return 0
    path = config_path(flags)
    if "template" in flags.bools:
        return _render(path, flags.strings.get("out", "-"))
    if "reload" in flags.bools:
        return _call(path, "reload")
    if "maintenance" in flags.strings:
        return _call(path, "maintenance", flags.strings["maintenance"] == "enable")
    for name in PAIRS:
        if flags.pairs.get(name):
            return _call(path, name, flags.pairs[name])
    if "ping" in flags.bools:
        return _call(path, "ping")
    if not path:
        print("-config flag is required", file=sys.stderr)
        return 1
    from pilot.cli.pilot import main as pilot_main

    code = pilot_main(["run", "-c", path])  # returns only when the config is refused
    return 1 if code == 2 else code  # ContainerPilot's exit for a config it cannot load


def _render(path: str, out: str) -> int:
    """-template: the config rendered with the environment, to -out or stdout."""
    from pilot.gotemplate.execute import RenderError, environment_data, render

    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
        rendered = render(text, environment_data(os.environ), os.environ, os.path.basename(path))
        if out in ("", "-"):
            sys.stdout.write(rendered)
        else:
            with open(out, "w", encoding="utf-8") as file:
                file.write(rendered)
    except OSError as error:
        print(f"could not read or write config file: {error}", file=sys.stderr)
        return 1
    except RenderError as error:
        print(f"could not apply template to config: {error}", file=sys.stderr)
        return 1
    return 0


def _call(path: str, action: str, argument: object = None) -> int:
    """One request to the running pilot: its socket is PILOT_SOCKET (set for pilot's jobs), else
    the `control.socket` of the config (ContainerPilot's default /var/run/containerpilot.socket)."""
    from pilot.cli.ctl import Unreachable, request
    from pilot.interface import routes

    socket_path = os.environ.get("PILOT_SOCKET") or _socket_of(path)
    if socket_path is None:
        return 1
    endpoint = {
        "reload": routes.RELOAD,
        "maintenance": routes.MAINTENANCE_ON if argument else routes.MAINTENANCE_OFF,
        "putenv": routes.PUTENV,
        "putmetric": routes.PUTMETRIC,
        "ping": routes.PING,
    }[action]
    body = argument if isinstance(argument, dict) else None
    try:
        status, answer = request(socket_path, *endpoint, body)
    except Unreachable as error:
        print(f"-{action}: failed to run subcommand: {error}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"-{action}: failed to run subcommand: {_error(answer)}", file=sys.stderr)
        return 1
    if action == "ping":
        print("ok")
    return 0


def _socket_of(path: str) -> str | None:
    """The control socket of the config at `path`, or None once the error is printed."""
    from pilot.config.errors import ConfigError
    from pilot.config.load import load_config

    if not path:
        print("-config flag is required", file=sys.stderr)
        return None
    try:
        return load_config(path).control.path
    except ConfigError as error:
        print(error, file=sys.stderr)
        return None


def _error(answer: bytes) -> str:
    try:
        return str(json.loads(answer)["error"])
    except (ValueError, KeyError, TypeError):
        return answer.decode(errors="replace").strip()


if __name__ == "__main__":
    sys.exit(main())
