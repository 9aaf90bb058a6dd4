"""`pilot traffic [NAME...] [-f] [--json]`, `pilot traffic show ID`, `pilot traffic --har FILE`:
the HTTP exchanges the traffic monitor of a running `pilot up` recorded, over its control
socket. What came from the network is printed with its control characters escaped unless
`--raw`."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from typing import Any, NamedTuple
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
from pilot.log import clock_text, visible

FOLLOW_WAIT = 25.0  # seconds one long poll of -f is held


class Failed(Exception):
    """pilot answered with an error (the message is its text)."""


def main(argv: list[str]) -> int:
    """Entry point of `pilot traffic`."""
    args = _parser().parse_args(argv)
    path = find_socket(args.socket, args.config)
    show = len(args.names) == 2 and args.names[0] == "show"
    if args.names[:1] == ["show"] and not (show and args.names[1].isdigit()):
        print("pilot traffic: show takes the number of one exchange: show ID", file=sys.stderr)
        return EXIT_ANSWERED_ERROR
    following = False
    try:
        if show:
            _show(path, int(args.names[1]), args.json, args.raw)
        elif args.har is not None:
            try:
                _export(path, args.names, args.har, args.n)
            except OSError as error:
                raise Failed(f"--har {args.har}: {error.strerror or error}") from None
        else:
            shown = _Shown(args.json, args.raw)
            after = _print_batch(path, args.names, 0, args.n, 0.0, shown)
            while args.follow:
                following = True
                after = _print_batch(path, args.names, after, None, FOLLOW_WAIT, shown)
    except Unreachable as error:
        if following:  # pilot stopped
            return EXIT_OK
        print(f"pilot traffic: {explain(error, path, args.config)}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except Failed as error:
        print(f"pilot traffic: {error}", file=sys.stderr)
        return EXIT_ANSWERED_ERROR
    except (KeyboardInterrupt, BrokenPipeError):
        return EXIT_OK
    return EXIT_OK


def _get(path: str, url: str, timeout: float = 30.0) -> Any:
    status, body = request(path, "GET", url, timeout=timeout)
    if status != 200:
        raise Failed(error_text(body))
    return json.loads(body)


def _select(
    path: str, names: list[str], after: int, last: int | None, wait: float, whole: bool
) -> dict[str, Any]:
    query: list[tuple[str, Any]] = [("service", name) for name in names]
    query += [("after", after), ("wait", wait), ("whole", int(whole))]
    if last is not None:
        query.append(("n", last))
    answer: dict[str, Any] = _get(path, f"{routes.TRAFFIC[1]}?{urlencode(query)}", wait + 10)
    return answer


class _Shown(NamedTuple):
    """How exchanges are printed: as JSON, and with control characters as they are."""

    json: bool
    raw: bool


def _print_batch(
    path: str, names: list[str], after: int, last: int | None, wait: float, shown: _Shown
) -> int:
    """Print the exchanges after `after`; the number to continue after."""
    answer = _select(path, names, after, last, wait, shown.json)
    colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    lines = [
        json.dumps(exchange) if shown.json else summary_line(exchange, colour, shown.raw)
        for exchange in answer["exchanges"]
    ]
    if lines:
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()
    return int(answer["next"])


def _show(path: str, number: int, as_json: bool, raw: bool) -> None:
    exchange = _get(path, f"{routes.EXCHANGE_PREFIX}{number}")
    if as_json:
        print(json.dumps(exchange, indent=2))
    else:
        sys.stdout.write(whole_text(exchange, raw))


def _export(path: str, names: list[str], target: str, last: int | None) -> None:
    from pilot import __version__
    from pilot.cli.har import har_log

    exchanges = _select(path, names, 0, last, 0.0, True)["exchanges"]
    text = json.dumps(har_log(exchanges, __version__), indent=2) + "\n"
    if target == "-":
        sys.stdout.write(text)
        return
    # A new file of our own beside the target (made exclusively: never one planted there, nor
    # a symlink's target), renamed over it: a reader never sees half a file. Mode 0600, as
    # bodies may hold secrets.
    descriptor, temp = tempfile.mkstemp(
        prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=os.path.dirname(target) or "."
    )
    try:
        with os.fdopen(descriptor, "w") as file:
            file.write(text)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    print(f"pilot traffic: {len(exchanges)} exchanges written to {target}", file=sys.stderr)


_STATUS_COLOURS = {"2": "32", "3": "36", "4": "33", "5": "31"}


def summary_line(exchange: dict[str, Any], colour: bool = False, raw: bool = False) -> str:
    """One exchange on one line: number, time, caller → service, request line, status,
    duration and response size; what came from the network with its control characters
    escaped unless `raw`."""
    shown = str if raw else visible
    stamp = clock_text(float(exchange["time"]))
    caller = exchange.get("client_service") or exchange["client"]
    status = shown(_status_text(exchange))
    if colour and exchange["status"] is not None:
        code = _STATUS_COLOURS.get(str(exchange["status"])[0])
        status = f"\x1b[{code}m{status}\x1b[0m" if code else status
    duration = exchange["duration_ms"]
    took = "-" if duration is None else f"{duration:.1f} ms"
    return (
        f"{exchange['id']:>5}  {stamp}  {caller} → {exchange['service']}  "
        f"{shown(exchange['method'])} {shown(exchange['url'])}  {status}  {took}  "
        f"{_size(exchange['response_size'])}"
    )


def _status_text(exchange: dict[str, Any]) -> str:
    if exchange["status"] is None:
        return f"failed ({exchange['error']})"
    if exchange.get("upgrade"):
        return f"{exchange['status']} {exchange['upgrade']}"
    return str(exchange["status"])


def _size(size: int) -> str:
    return f"{size} B" if size < 1024 else f"{size / 1024:.1f} KiB"


def whole_text(exchange: dict[str, Any], raw: bool = False) -> str:
    """Everything recorded of one exchange, as text: the request, then the response, each
    with its headers and body (JSON pretty-printed), control characters escaped unless
    `raw`."""
    caller = exchange["client"]
    if exchange.get("client_service"):
        caller = f"{exchange['client_service']} ({caller})"
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(exchange["time"]))
    out = [
        f"exchange {exchange['id']}: {caller} → {exchange['service']} at {when}, "
        + ("no response" if exchange["duration_ms"] is None else f"{exchange['duration_ms']} ms"),
    ]
    if exchange.get("error"):
        out.append(f"error: {exchange['error']}")
    out += ["", f"{exchange['method']} {exchange['url']} HTTP/{exchange['http_version']}"]
    out += _message(exchange["request"])
    if exchange["status"] is not None:
        out += ["", f"HTTP/{exchange['http_version']} {exchange['status']} {exchange['reason']}"]
        out += _message(exchange["response"])
    if exchange.get("upgrade"):
        out += ["", f"(switched to {exchange['upgrade']}; its frames are not recorded)"]
    text = "\n".join(out) + "\n"
    return text if raw else visible(text)


def _message(part: dict[str, Any]) -> list[str]:
    lines = [f"{name}: {value}" for name, value in part["headers"]]
    body = part["body"]
    if not body["size"]:
        return lines
    lines.append("")
    if "text" in body:
        lines.append(pretty_body(body["text"], part["headers"]))
    else:
        lines.append(f"(binary, {body['size']} bytes)")
    if body["truncated"]:
        kept = len(body.get("text", "").encode()) if "text" in body else None
        lines.append(
            f"(truncated: {kept} of {body['size']} bytes kept)"
            if kept is not None
            else f"(truncated: {body['size']} bytes in all)"
        )
    return lines


def pretty_body(text: str, headers: list[list[str]]) -> str:
    """`text` indented when it is JSON (by its content type, or because it parses)."""
    kind = next((value for name, value in headers if name.lower() == "content-type"), "")
    if "json" in kind or text.lstrip()[:1] in ("{", "["):
        try:
            return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            pass
    return text


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pilot traffic",
        description="The HTTP exchanges of monitored services (`monitor: true`) of a running "
        "pilot up: all services when none is named. `pilot traffic show ID` prints one whole.",
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="a service's name")
    parser.add_argument("-f", "--follow", action="store_true", help="keep printing new ones")
    parser.add_argument("-n", type=int, metavar="N", help="only the last N")
    parser.add_argument(
        "--json", action="store_true", help="one JSON object per exchange (whole), per line"
    )
    parser.add_argument("--har", metavar="FILE", help="write them as HAR 1.2 to FILE (- : stdout)")
    parser.add_argument(
        "--raw",
        action="store_true",
        help="print control characters as they came (default: escaped, like \\x1b)",
    )
    socket_options(parser)
    return parser
