"""Record golden transcripts: every scenario against a real Consul agent, one JSON file each.

    python3 -m tests.golden.record --consul /path/to/consul --out tests/golden/transcripts/
    python3 -m tests.golden.record --http 127.0.0.1:8500 --dns 127.0.0.1:8600 --out DIR

With `--consul` each scenario gets a fresh `consul agent -dev` (node `golden`), which is how the
committed transcripts were made. With `--http` every scenario runs against that one agent in
turn; it must be a fresh dev agent named `golden` for the answers to match the replay, and the
last scenario (`operator_and_agent_misc`) ends by making it leave.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path
from typing import Any

import requests

from tests.golden.agents import start_consul
from tests.golden.driver import run_scenario
from tests.golden.scenarios import SCENARIOS


def agent_version(http: str) -> str:
    self_ = requests.get(f"http://{http}/v1/agent/self", timeout=10).json()
    return str(self_["Config"]["Version"])


def transcript(scenario: dict[str, Any], http: str, dns_port: int | None) -> dict[str, Any]:
    """The scenario's steps as answered by the agent at `http`, with what agent answered."""
    return {
        "scenario": scenario["name"],
        "consul_version": agent_version(http),
        "recorded": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d"),
        "agent": "consul agent -dev -client 127.0.0.1 -bind 127.0.0.1 -node golden",
        "steps": run_scenario(scenario, http, dns_port),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--consul", help="a consul binary: a fresh dev agent per scenario")
    where.add_argument("--http", help="HOST:PORT of one running dev agent")
    parser.add_argument("--dns", help="HOST:PORT of that agent's DNS (with --http)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--only", nargs="*", help="scenario names (default: all)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for scenario in SCENARIOS:
        if args.only and scenario["name"] not in args.only:
            continue
        if args.consul:
            agent = start_consul(args.consul)
            try:
                result = transcript(scenario, agent.http, agent.dns)
            finally:
                agent.stop()
        else:
            dns_port = int(args.dns.rsplit(":", 1)[1]) if args.dns else None
            result = transcript(scenario, args.http, dns_port)
        path = args.out / f"{scenario['name']}.json"
        path.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
        print(f"{path}: {len(result['steps'])} steps", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
