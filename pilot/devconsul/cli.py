"""`pilot consul-dev`: the registry as a process of its own."""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from pilot.devconsul.checks.script_process import run_in_process_group
from pilot.devconsul.dns.options import DnsOptions
from pilot.devconsul.go.durations import SECOND, parse_go_duration
from pilot.devconsul.server import DevConsul
from pilot.devconsul.stop_request import StopRequest


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pilot consul-dev",
        description="A single-machine registry speaking Consul's HTTP API and DNS "
        "(for development, single hosts and tests).",
    )
    parser.add_argument(
        "--listen", default="127.0.0.1:8500", help="HOST:PORT to serve on (port 0: any free one)"
    )
    parser.add_argument("--node", help="the node's name (default: the host name)")
    parser.add_argument("--datacenter", default="dc1", help="the datacenter's name (default: dc1)")
    parser.add_argument(
        "--dns",
        default="127.0.0.1:8600",
        help="HOST:PORT of the DNS interface, UDP and TCP (default: 127.0.0.1:8600, as "
        "`consul agent -dev`; off: none)",
    )
    parser.add_argument(
        "--dns-only-passing",
        action="store_true",
        help="DNS answers leave out instances with a warning too (dns_config.only_passing)",
    )
    parser.add_argument(
        "--dns-enable-truncate",
        action="store_true",
        help="set TC on DNS answers that were cut (dns_config.enable_truncate)",
    )
    parser.add_argument(
        "--enable-script-checks",
        action="store_true",
        help="run script checks (Args) registered over HTTP, as Consul's flag",
    )
    parser.add_argument(
        "--enable-local-script-checks",
        action="store_true",
        help="run script checks of local configuration only (consul-dev has none: HTTP "
        "registrations are still refused, as Consul refuses remote ones)",
    )
    parser.add_argument(
        "--prometheus-retention-time",
        default="0s",
        help="serve /v1/agent/metrics?format=prometheus (0s, the default: a 415, as Consul)",
    )
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
    return parser


def main(argv: list[str]) -> int:
    """Serve until SIGTERM, SIGINT or PUT /v1/agent/leave; the first line printed is the
    "host:port" served on."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s consul-dev %(levelname)s %(message)s",
    )
    try:
        retention = parse_go_duration(args.prometheus_retention_time) / SECOND
    except ValueError as error:
        parser.error(f"--prometheus-retention-time: {error}")
    dns = None if args.dns == "off" else args.dns
    stop = StopRequest()
    scripts = "all" if args.enable_script_checks else ""
    scripts = scripts or ("local" if args.enable_local_script_checks else "")
    try:
        registry = DevConsul(
            args.listen,
            args.node,
            args.dev_fast_reaper,
            args.datacenter,
            dns=dns,
            dns_options=DnsOptions(
                only_passing=args.dns_only_passing, enable_truncate=args.dns_enable_truncate
            ),
            script_checks=scripts,
            run_script=run_in_process_group if scripts else None,
            prometheus_retention=retention,
            on_leave=stop.set,
        )
    except (OSError, ValueError) as error:
        where = args.listen if dns is None else f"{args.listen} (DNS {dns})"
        print(f"pilot consul-dev: cannot listen on {where}: {error}", file=sys.stderr)
        return 1
    stop.on_signals(signal.SIGTERM, signal.SIGINT)
    registry.start()
    print(registry.address, flush=True)
    if registry.dns is not None:
        logging.getLogger("pilot.devconsul").info("DNS on %s (UDP, TCP)", registry.dns.address)
    stop.wait()
    registry.stop()
    return 0
