"""`pilot consul-dev`: the embedded registry as a process."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from pilot.devconsul.server import DevConsul


def main(argv: list[str]) -> int:
    """Serve until SIGTERM/SIGINT; the first line printed is the address served on."""
    parser = argparse.ArgumentParser(
        prog="pilot consul-dev",
        description="A single-machine registry speaking Consul's "
        "HTTP API (for development, single hosts and tests).",
    )
    parser.add_argument("--listen", default="127.0.0.1:8500", help="HOST:PORT (port 0: any free)")
    parser.add_argument("--node", help="node name (default: the host name)")
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    parser.add_argument(
        "--dev-fast-reaper",
        action="store_true",
        help="reap critical services after 1s instead of Consul's 1m (tests)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), stream=sys.stderr, format="%(asctime)s consul-dev %(message)s"
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
