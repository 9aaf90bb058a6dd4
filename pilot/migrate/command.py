"""`pilot convert FILE` (ContainerPilot v2 or v3) and `pilot import FILE` (supervisord): write
the equivalent pilot.json5, checked by pilot's own loader before it is written."""

from __future__ import annotations

import argparse
import os
import sys

from pilot.config.errors import ConfigError


def main(argv: list[str]) -> int:
    """`pilot convert ...` or `pilot import ...` (argv starts with the sub-command)."""
    command, rest = argv[0], argv[1:]
    app: list[str] | None = None
    if "--" in rest:
        app, rest = rest[rest.index("--") + 1 :], rest[: rest.index("--")]
    parser = argparse.ArgumentParser(
        prog=f"pilot {command}",
        description="write pilot.json5 for a ContainerPilot config (v3, or v2: "
        "`-- CMD ARGS...` is the app v2 ran)"
        if command == "convert"
        else "write pilot.json5 for a supervisord config",
    )
    parser.add_argument("file", help="the config to read")
    parser.add_argument("-o", "--out", default="-", help="where to write (default: stdout)")
    args = parser.parse_args(rest)
    try:
        with open(args.file, encoding="utf-8") as file:
            text = file.read()
        name = os.path.basename(args.file)
        if command == "convert":
            from pilot.migrate.convert import convert

            output = convert(text, os.environ, name, app or None)
        else:
            from pilot.migrate.supervisord import import_supervisord

            output = import_supervisord(text, name)
        check(
            output,
            args.out
            if args.out != "-"
            else os.path.join(os.path.dirname(args.file), "pilot.json5"),
        )
    except OSError as error:
        print(f"pilot: {args.file}: {error.strerror or error}", file=sys.stderr)
        return 2
    except ConfigError as error:
        for one in error.errors:
            print(f"pilot: {one}", file=sys.stderr)
        return 2
    if args.out == "-":
        sys.stdout.write(output)
    else:
        with open(args.out, "w", encoding="utf-8") as file:
            file.write(output)
        print(f"pilot: wrote {args.out}", file=sys.stderr)
    return 0


def check(text: str, path: str) -> None:
    """Load `text` as the pilot.json5 at `path` (with this environment).

    Raises:
        ConfigError: what pilot would say about it.
    """
    from pilot.config.load import parse_config

    parse_config(text, os.environ, path)


def native_equivalent(path: str) -> str:
    """The pilot.json5 of the ContainerPilot config at `path`, as `pilot convert` writes it."""
    from pilot.migrate.convert import convert

    with open(path, encoding="utf-8") as file:
        return convert(file.read(), os.environ, os.path.basename(path))
