"""Idle CPU in pieces (figure 4): the CPU time of one http health check on an asyncio loop, and
of one TTL report through pilot's Consul client (pilot.consul.api, on the loop) to
`pilot consul-dev`, each done `--count` times in this
process (pilot's own functions; the loopback health server of bench.idle_cpu runs in a process
of its own, so that its CPU is not counted), after a warm-up. CPU is this process's getrusage
(user + system), divided by the count; median of `--runs`. With `--pause`, the checks are that
many seconds apart, as in a supervisor, where each check finds the CPU's caches cold (other
processes ran meanwhile): the figure is then each check's own thread CPU time, the median.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import subprocess
import time
from collections.abc import Callable

from bench import common

SERVER = (
    "import time; from bench import configs; "
    "print(configs.HealthServer().url, flush=True); time.sleep(3600)"
)


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def per_call(work: Callable[[int], None], count: int) -> float:
    """CPU seconds per call of `work(count)` (20 calls of warm-up first)."""
    work(20)
    started = cpu()
    work(count)
    return (cpu() - started) / count


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(prog="python -m bench.check_cost", description=__doc__)
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--pause", type=float, default=0.0, help="seconds between http checks (cold caches)"
    )
    args = parser.parse_args(argv)
    from pilot.consul.api import ConsulAPI
    from pilot.consul.calls import ConsulCalls
    from pilot.consul.client import ConsulTarget
    from pilot.health.checks import http_check
    from pilot.log import Log

    health = subprocess.Popen(
        [common.PYTHON, "-c", SERVER], cwd=common.REPO, stdout=subprocess.PIPE, env=common.ENV
    )
    assert health.stdout is not None
    url = health.stdout.readline().decode().strip()

    def checks(n: int) -> None:
        async def many() -> None:
            for _ in range(n):
                await http_check(url, 5)

        asyncio.run(many())

    def apart(n: int) -> float:
        """The median thread CPU time of one of `n` checks, each `--pause` after the last."""
        spent: list[float] = []

        async def many() -> None:
            for _ in range(n):
                await asyncio.sleep(args.pause)
                started = time.thread_time()
                await http_check(url, 5)
                spent.append(time.thread_time() - started)

        asyncio.run(many())
        return statistics.median(spent)

    results: dict[str, list[float]] = {"http check": [], "TTL report": []}
    try:
        with common.registry() as registry:
            registry.register("s", "s1", 1, ttl=True)
            host, port = registry.address.split(":")
            target = ConsulTarget(host, int(port), "http")
            output = "HTTP GET x: 200 OK Output: ok"

            def reports(n: int) -> None:
                async def many() -> None:
                    calls = ConsulCalls(target, Log())
                    api = ConsulAPI(calls)
                    for _ in range(n):
                        await api.update_check("s1-ttl", "passing", output)
                    await calls.close()

                asyncio.run(many())

            for _ in range(args.runs):
                if args.pause:
                    checks(20)  # warm-up
                    results["http check"].append(apart(args.count))
                else:
                    results["http check"].append(per_call(checks, args.count))
                results["TTL report"].append(per_call(reports, args.count))
    finally:
        health.kill()
        health.wait()
    rows = [
        [name, len(values), f"{common.median(values) * 1000:.2f}", f"{max(values) * 1000:.2f}"]
        for name, values in results.items()
    ]
    text = common.table(["one …", "runs", "CPU ms median", "max"], rows)
    text += (
        "\n\n(http check: pilot.health.checks.http_check on a loop, a new connection each"
        + (f", {args.pause:g} s apart" if args.pause else "")
        + "; "
        "TTL report: PUT /v1/agent/check/update through pilot.consul.api, kept alive)"
    )
    common.emit("check_cost", "## 4. idle CPU: one check, one report\n\n" + text, results)
    return results


if __name__ == "__main__":
    main()
