"""`pilot traffic [NAME...] [-f] [--json]`, `pilot traffic show ID`, `pilot traffic --har FILE`:
the HTTP exchanges the traffic monitor of a running `pilot up` recorded, over its control
socket."""

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
from pilot.log import clock_text

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
            _show(path, int(args.names[1]), args.json)
        elif args.har is not None:
            _export(path, args.names, args.har, args.n)
        else:
            after = _print_batch(path, args.names, 0, args.n, 0.0, args.json)
            while args.follow:
                following = True
                after = _print_batch(path, args.names, after, None, FOLLOW_WAIT, args.json)
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


def _print_batch(
    path: str, names: list[str], after: int, last: int | None, wait: float, as_json: bool
) -> int:
    """Print the exchanges after `after`; the number to continue after."""
    answer = _select(path, names, after, last, wait, as_json)
    colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    lines = [
        json.dumps(exchange) if as_json else summary_line(exchange, colour)
        for exchange in answer["exchanges"]
    ]
    if lines:
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()
    return int(answer["next"])


def _show(path: str, number: int, as_json: bool) -> None:
    exchange = _get(path, f"{routes.EXCHANGE_PREFIX}{number}")
    if as_json:
        print(json.dumps(exchange, indent=2))
    else:
        sys.stdout.write(whole_text(exchange))


def _export(path: str, names: list[str], target: str, last: int | None) -> None:
    from pilot import __version__
    from pilot.cli.har import har_log

    exchanges = _select(path, names, 0, last, 0.0, True)["exchanges"]
    text = json.dumps(har_log(exchanges, __version__), indent=2) + "\n"
    if target == "-":
        sys.stdout.write(text)
        return
    temp = f"{target}.tmp{os.getpid()}"
    with open(temp, "w") as file:
        file.write(text)
    os.replace(temp, target)  # a reader never sees half a file
    print(f"pilot traffic: {len(exchanges)} exchanges written to {target}", file=sys.stderr)


_STATUS_COLOURS = {"2": "32", "3": "36", "4": "33", "5": "31"}


def summary_line(exchange: dict[str, Any], colour: bool = False) -> str:
    """One exchange on one line: number, time, caller → service, request line, status,
    duration and response size."""
    stamp = clock_text(float(exchange["time"]))
    caller = exchange.get("client_service") or exchange["client"]
    status = _status_text(exchange)
    if colour and exchange["status"] is not None:
        code = _STATUS_COLOURS.get(str(exchange["status"])[0])
        status = f"\x1b[{code}m{status}\x1b[0m" if code else status
    duration = exchange["duration_ms"]
    took = "-" if duration is None else f"{duration:.1f} ms"
    return (
        f"{exchange['id']:>5}  {stamp}  {caller} → {exchange['service']}  "
        f"{exchange['method']} {exchange['url']}  {status}  {took}  "
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


def whole_text(exchange: dict[str, Any]) -> str:
    """Everything recorded of one exchange, as text: the request, then the response, each
    with its headers and body (JSON pretty-printed)."""
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
    return "\n".join(out) + "\n"


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
    socket_options(parser)
    return parser
