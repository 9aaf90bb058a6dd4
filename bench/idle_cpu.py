"""Figure 4, idle CPU: CPU seconds pilot uses over a window (default 60 s) with 10 jobs, each
with an http health check every 5 s (against a loopback server in the harness), and 10 idle
watches (blocking queries on services that do not change). supervisord with the same 10 jobs
(no health checks: it has none) runs in the same window for reference.

With --breakdown, four pilots run side by side in one window instead, with parts of that
set-up switched off: the 10 jobs alone; + the 10 watches; + the 10 health checks; all of it.

CPU is utime + stime of the supervisor process from /proc (threads included, jobs not).
"""

from __future__ import annotations

import argparse
import subprocess
import time
from typing import Any

from bench import common, configs

# --breakdown: pilot's set-up with parts switched off (keyword arguments of configs.full_pilot)
VARIANTS: dict[str, dict[str, Any]] = {
    "10 jobs": {"watches": 0, "health": False},
    "10 jobs + 10 watches": {"watches": 10, "health": False},
    "10 jobs + 10 health checks": {"watches": 0, "health": True},
    "10 jobs + 10 watches + 10 health checks": {"watches": 10, "health": True},
}


def window(
    procs: dict[str, subprocess.Popen[bytes]], settle: float, seconds: float
) -> tuple[dict[str, float], float]:
    """CPU seconds each process uses over the same `seconds`, after `settle`."""
    time.sleep(settle)
    before = {name: common.cpu_seconds(proc.pid) for name, proc in procs.items()}
    start = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - start
    used = {name: common.cpu_seconds(proc.pid) - before[name] for name, proc in procs.items()}
    return used, elapsed


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(prog="python -m bench.idle_cpu", description=__doc__)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--settle", type=float, default=5)
    parser.add_argument(
        "--breakdown", action="store_true", help="pilot with parts switched off, side by side"
    )
    args = parser.parse_args(argv)
    if args.breakdown:
        names = list(VARIANTS)
    else:
        names = [
            p for p in ("pilot", "supervisord") if p not in common.missing_peers(["supervisord"])
        ]
    health = configs.HealthServer()
    try:
        with common.registry() as registry, common.workdir("idle") as directory:
            configs.populate(registry, 10)
            procs = {}
            for n, name in enumerate(names):
                peer_dir = directory / str(n)
                peer_dir.mkdir()
                if args.breakdown:
                    variant = VARIANTS[name]
                    config = configs.full_pilot(
                        peer_dir,
                        registry if variant["watches"] or variant["health"] else None,
                        watches=variant["watches"],
                        templates=0,
                        telemetry=False,
                        health_url=health.url if variant["health"] else None,
                    )
                    argv = configs.peer_argv("pilot", peer_dir, 10, config)
                else:
                    config = configs.full_pilot(
                        peer_dir, registry, templates=0, telemetry=False, health_url=health.url
                    )
                    argv = configs.peer_argv(name, peer_dir, 10, config)
                procs[name] = common.spawn(argv)
            try:
                used, elapsed = window(procs, args.settle, args.seconds)
                passing = len(registry.request("GET", "/v1/health/checks/job1") or [])
            finally:
                for proc in procs.values():
                    common.stop(proc)
    finally:
        health.close()
    rows = [
        [name, f"{used[name]:.2f}", f"{elapsed:.0f}", f"{100 * used[name] / elapsed:.3f}"]
        for name in names
    ]
    text = common.table(
        ["pilot" if args.breakdown else "peer", "CPU s", "window s", "% of one core"], rows
    )
    text += f"\n\n(job1's checks in the registry: {passing}; health checks every 5 s)"
    data = {"cpu_seconds": used, "window": elapsed}
    if args.breakdown:
        common.emit("idle_cpu_breakdown", "## 4. idle CPU, parts switched off\n\n" + text, data)
    else:
        common.emit("idle_cpu", "## 4. idle CPU\n\n" + text, data)
    return data


if __name__ == "__main__":
    main()
