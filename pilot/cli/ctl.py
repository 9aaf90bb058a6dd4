"""`pilot ctl`: talks to a running pilot over its control socket."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any
from urllib.parse import quote

from pilot.http.blocking import fetch
from pilot.http.exchange import ClientError
from pilot.http.limits import Limits
from pilot.interface import routes

EXIT_OK, EXIT_ANSWERED_ERROR, EXIT_UNREACHABLE = 0, 1, 2
CLIENT_LIMITS = Limits(max_head=64 << 10, max_body=1 << 30)  # pilot's own answers, however long


class Unreachable(Exception):
    """The socket does not answer."""


def request(
    path: str, method: str, url: str, body: Any = None, timeout: float = 30.0
) -> tuple[int, bytes]:
    """One request to the control socket at `path`; returns (status, body)."""
    data = b"" if body is None else json.dumps(body).encode()
    headers = [("Content-Type", "application/json")] if body is not None else []
    try:
        reply = fetch(path, method, url, data, headers, timeout, CLIENT_LIMITS)
    except ClientError as error:
        raise Unreachable(f"cannot reach pilot on {path}: {error}") from None
    return reply.status, reply.body


def main(argv: list[str]) -> int:
    """Entry point of `pilot ctl`."""
    args = _parser().parse_args(argv)
    socket_path = find_socket(args.socket, args.config)
    try:
        return _run(args, socket_path)
    except Unreachable as error:
        print(f"pilot ctl: {explain(error, socket_path, args.config)}", file=sys.stderr)
        return EXIT_UNREACHABLE


def _run(args: argparse.Namespace, path: str) -> int:
    command = args.command
    if command == "status":
        status, body = request(path, *routes.STATUS)
        if status == 200 and args.job and not args.json:
            return _print_job(json.loads(body), args.job)
        if status == 200 and not args.json:
            _print_status(json.loads(body))
            return EXIT_OK
    elif command == "ping":
        status, body = request(path, *routes.PING)
    elif command == "reload":
        status, body = request(path, *routes.RELOAD)
    elif command == "maintenance":
        method, url = routes.MAINTENANCE_ON if args.state == "on" else routes.MAINTENANCE_OFF
        if args.reason:
            url += f"?reason={quote(args.reason)}"
        status, body = request(path, method, url)
    elif command in ("putenv", "putmetric"):
        pairs = _pairs(args.pairs, last_equals=command == "putmetric")
        if pairs is None:
            return EXIT_ANSWERED_ERROR
        status, body = request(
            path, *(routes.PUTENV if command == "putenv" else routes.PUTMETRIC), pairs
        )
    elif command == "signal":
        status, body = request(
            path, *routes.job_action(args.job, "signal"), {"signal": args.signal}
        )
    else:  # a rebuild answers once the build is over
        timeout = 3600.0 if command == "rebuild" else 30.0
        status, body = request(path, *routes.job_action(args.job, command), timeout=timeout)
    if status != 200:
        print(f"pilot ctl: {error_text(body)}", file=sys.stderr)
        return EXIT_ANSWERED_ERROR
    if command in ("status", "ping"):
        sys.stdout.write(body.decode())
    return EXIT_OK


def socket_options(parser: argparse.ArgumentParser) -> None:
    """`--socket` and `-c/--config`, which say where the control socket is (`find_socket`)."""
    parser.add_argument("--socket", help="control socket (default: $PILOT_SOCKET, or the config's)")
    parser.add_argument(
        "-c",
        "--config",
        default=os.environ.get("PILOT_CONFIG"),
        help="read the socket path from this config (default: ./pilot.json5's stack)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pilot ctl", description="Control a running pilot.")
    socket_options(parser)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    status = sub.add_parser("status", help="jobs, services, watches, templates")
    status.add_argument("--json", action="store_true", help="the raw JSON document")
    status.add_argument(
        "job", nargs="?", help="one job in full, with its last health check's whole output"
    )
    sub.add_parser("ping", help="is pilot there?")
    sub.add_parser("reload", help="re-read the config and apply what changed")
    maintenance = sub.add_parser("maintenance", help="enter or leave maintenance mode")
    maintenance.add_argument("state", choices=["on", "off"])
    maintenance.add_argument("--reason", help="shown in Consul")
    for name, text in (
        ("putenv", "K=V for the next run of every job"),
        ("putmetric", "NAME=VALUE for a declared metric"),
    ):
        command = sub.add_parser(name, help=text)
        command.add_argument("pairs", nargs="+", metavar="K=V")
    for name in ("restart", "stop", "start"):
        sub.add_parser(name, help=f"{name} a job").add_argument("job")
    sub.add_parser(
        "rebuild",
        help="run a job's build while it keeps serving, then restart it if the build worked",
    ).add_argument("job")
    signal_ = sub.add_parser("signal", help="send a signal to a job's process group")
    signal_.add_argument("job")
    signal_.add_argument("signal")
    return parser


def _pairs(items: list[str], last_equals: bool) -> dict[str, str] | None:
    """KEY=VALUE pairs: an env value may hold '=', a metric name may (in its labels)."""
    pairs = {}
    for item in items:
        key, sep, value = item.rpartition("=") if last_equals else item.partition("=")

        if not sep or not key:
            print(f"pilot ctl: {item!r} is not KEY=VALUE", file=sys.stderr)
            return None
        pairs[key] = value
    return pairs


def find_socket(given: str | None, config: str | None) -> str:
    """The control socket: `given` (--socket), else $PILOT_SOCKET, else that of the config
    file `config` (a `pilot up` stack's `.pilot/pilot.sock` beside it, or its
    `control.socket`), else the stack of ./pilot.json5, else the default."""
    if given:
        return given
    if os.environ.get("PILOT_SOCKET"):
        return os.environ["PILOT_SOCKET"]
    from pilot.config.ops_model import default_socket

    for path in (config, None if config else "pilot.json5"):
        if not path or not os.path.isfile(path):
            continue
        stack = os.path.join(os.path.dirname(os.path.abspath(path)), ".pilot", "pilot.sock")
        if os.path.exists(stack):
            return stack
        from pilot.config.errors import ConfigError
        from pilot.config.load import load_config

        try:
            return load_config(path, up=lambda _key, _place: 1).control.path
        except ConfigError:
            pass
    return default_socket()


def explain(error: Unreachable, path: str, config: str | None) -> str:
    """What a person needs to hear when the control socket does not answer: when nothing
    listens there, that no pilot runs for the config (or here), rather than an errno."""
    from pilot.process.sockets import unix_socket_answers

    if unix_socket_answers(path):
        return str(error)
    for candidate in (config, None if config else "pilot.json5"):
        if candidate and os.path.isfile(candidate):
            shown = candidate if os.path.isabs(candidate) else f"./{os.path.normpath(candidate)}"
            return f"no pilot is running for {shown} (start it with `pilot up` or `pilot run`)"
    return (
        f"no pilot is running here (nothing listens on {path}): "
        "give -c FILE, --socket PATH or run it where its pilot.json5 is"
    )


def error_text(body: bytes) -> str:
    try:
        return str(json.loads(body)["error"])
    except (ValueError, KeyError, TypeError):
        return body.decode(errors="replace").strip()


def _print_job(status: dict[str, Any], name: str) -> int:
    """One job of the status document, every field, then its last check's whole output."""
    job = next((job for job in status["jobs"] if job["name"] == name), None)
    if job is None:
        print(f"pilot ctl: no job named {name!r}", file=sys.stderr)
        return EXIT_ANSWERED_ERROR
    output = job.pop("check_output", None)
    for key, value in job.items():
        print(f"{key + ':':<14}{'' if value is None else value}")
    if output:
        print("last check output:")
        print(output.rstrip("\n"))
    return EXIT_OK


def _print_status(status: dict[str, Any]) -> None:
    """The status document as tables for a person (`--json` gives the document itself)."""
    flag = ", in maintenance" if status.get("maintenance") else ""
    print(f"pilot {status['version']}, pid {status['pid']}{flag}")
    _table(
        ("JOB", "STATE", "PID", "RUNS", "RESTARTS", "LAST EXIT", "HEALTH", "ROLE"),
        [
            (
                job["name"],
                job["state"],
                job["pid"],
                job["runs"],
                job["restarts"],
                job["last_exit"],
                job["health"],
                f"{job['role']} (leader {job['leader'] or '?'})" if job["role"] else None,
            )
            for job in status["jobs"]
        ],
    )
    _table(
        ("SERVICE", "ADDRESS", "REGISTERED", "CHECK", "MAINTENANCE"),
        [
            (
                service["id"],
                f"{service['address']}:{service['port']}",
                "yes" if service["registered"] else "no",
                service["status"],
                "yes" if service["maintenance"] else None,
            )
            for service in status["services"]
        ],
    )
    _table(
        ("STACK SERVICE", "RESOLVES", "ADDRESS"),
        [(r["service"], r["source"], r["address"]) for r in status.get("resolutions", [])],
    )
    if status.get("monitor"):
        print(f"\ntraffic monitor: {status['monitor']} (and `pilot traffic`)")
    _table(
        ("WATCH", "INSTANCES", "HEALTHY", "UPDATES"),
        [
            (w["name"], w["instances"], {True: "yes", False: "no"}.get(w["healthy"]), w["updates"])
            for w in status["watches"]
        ],
    )
    _table(
        ("TEMPLATE", "DEST", "RENDERS", "FAILURES", "LAST ERROR"),
        [
            (t["name"], t["dest"], t["renders"], t["failures"], t["last_error"])
            for t in status["templates"]
        ],
    )


def _table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """Print aligned columns; an absent value is "-". Nothing at all when there are no rows."""
    if not rows:
        return
    cells = [header, *(tuple("-" if v is None else str(v) for v in row) for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    print()
    for row in cells:
        line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print(line.rstrip())
