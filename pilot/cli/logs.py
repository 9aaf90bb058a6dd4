"""`pilot logs [NAME...] [-f] [-n N] [--since DURATION] [--raw]`: the output of one job, or
several, from the bounded buffer the running pilot keeps, over its control socket. Control
characters in a job's output are printed escaped (colours kept) unless `--raw`."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any
from urllib.parse import urlencode

from pilot.cli.ctl import (
    EXIT_ANSWERED_ERROR,
    EXIT_OK,
    EXIT_UNREACHABLE,
    Unreachable,
    error_text,
    explain,
    find_socket,
    request,
    socket_options,
)
from pilot.interface import routes
from pilot.log import COLOURS, clock_text, visible

FOLLOW_WAIT = 25.0  # seconds one long poll of -f is held


def main(argv: list[str]) -> int:
    """Entry point of `pilot logs`."""
    args = _parser().parse_args(argv)
    since = None
    if args.since is not None:
        from pilot.config.durations import parse_duration

        try:
            since = time.time() - parse_duration(args.since)
        except ValueError:
            print(f"pilot logs: --since {args.since!r} is not a duration like 5m", file=sys.stderr)
            return EXIT_ANSWERED_ERROR
    path = find_socket(args.socket, args.config)
    query: list[tuple[str, Any]] = [("job", name) for name in args.names]
    if args.n is not None:
        query.append(("n", args.n))
    if since is not None:
        query.append(("since", since))
    following = False
    try:
        after = _print_batch(path, query, args.names, args.raw)
        while args.follow and after is not None:
            following = True
            query = [*(("job", name) for name in args.names), ("after", after)]
            after = _print_batch(path, [*query, ("wait", FOLLOW_WAIT)], args.names, args.raw)
    except Unreachable as error:
        if following:  # pilot stopped
            return EXIT_OK
        print(f"pilot logs: {explain(error, path, args.config)}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except KeyboardInterrupt:
        return EXIT_OK
    return EXIT_OK if after is not None else EXIT_ANSWERED_ERROR


def _print_batch(
    path: str, query: list[tuple[str, Any]], names: list[str], raw: bool
) -> int | None:
    """Fetch and print one batch; the number to continue after, or None on an error."""
    method, url = routes.LOGS
    status, body = request(path, method, f"{url}?{urlencode(query)}", timeout=FOLLOW_WAIT + 10)
    if status != 200:
        print(f"pilot logs: {error_text(body)}", file=sys.stderr)
        return None
    answer = json.loads(body)
    width = max((len(line["job"]) for line in answer["lines"]), default=0)
    width = max([width, *(len(name) for name in names), 5])
    colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    out = [_format(line, width, colour, raw) for line in answer["lines"]]
    if out:
        sys.stdout.write("\n".join(out) + "\n")
        sys.stdout.flush()
    return int(answer["next"])


def _format(line: dict[str, Any], width: int, colour: bool, raw: bool) -> str:
    """`time name | text` as pilot's own merged stream prints it; pilot's lines about the job
    are labelled `pilot`; the text's control characters escaped (but its colours) unless
    `raw`."""
    stamp = clock_text(float(line["time"]))
    name = "pilot" if line["stream"] == "pilot" else str(line["job"])
    label = f"{stamp} {name.ljust(width)} |"
    if colour:
        code = COLOURS[sum(map(ord, name)) % len(COLOURS)]
        label = f"\x1b[{code}m{label}\x1b[0m"
    text = str(line["text"])
    return f"{label} {text if raw else visible(text, colours=True)}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pilot logs",
        description="Print the output of jobs of a running pilot (all jobs when none is named), "
        "from the lines it keeps (the last 2000 of each job).",
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="a job's name")
    parser.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    parser.add_argument("-n", type=int, metavar="N", help="only the last N lines")
    parser.add_argument("--since", metavar="DURATION", help='only lines of the last "5m", "1h"')
    parser.add_argument(
        "--raw",
        action="store_true",
        help="print control characters as they are (default: escaped, like \\x1b; colours kept)",
    )
    socket_options(parser)
    return parser
