"""`pilot consul-dev`: the registry as a process of its own."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from pilot.devconsul.server import DevConsul


def main(argv: list[str]) -> int:
    """Serve until SIGTERM or SIGINT; the first line printed is the "host:port" served on."""
    parser = argparse.ArgumentParser(
        prog="pilot consul-dev",
        description="A single-machine registry speaking Consul's HTTP API "
        "(for development, single hosts and tests).",
    )
    parser.add_argument(
        "--listen", default="127.0.0.1:8500", help="HOST:PORT to serve on (port 0: any free one)"
    )
    parser.add_argument("--node", help="the node's name (default: the host name)")
    parser.add_argument(
        "--log-level",
        default="info",
        type=str.lower,
        choices=["debug", "info", "warning", "error"],
        help="requests are logged at debug level",
    )
    parser.add_argument(
        "--dev-fast-reaper",
        action="store_true",
        help="reap services critical past DeregisterCriticalServiceAfter within about a second "
        "(Consul's minimum is 1m, its reaper runs every 30s)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s consul-dev %(levelname)s %(message)s",
    )
    try:
        registry = DevConsul(args.listen, args.node, args.dev_fast_reaper)
    except (OSError, ValueError) as error:
        print(f"pilot consul-dev: cannot listen on {args.listen}: {error}", file=sys.stderr)
        return 1
    done = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: done.set())
    registry.start()
    print(registry.address, flush=True)
    done.wait()
    registry.stop()
    return 0
