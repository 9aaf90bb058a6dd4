"""Figure 4, idle CPU: CPU seconds pilot uses over a window (default 60 s) with 10 jobs, each
with an http health check every 5 s (against a loopback server in the harness), and 10 idle
watches (blocking queries on services that do not change). supervisord with the same 10 jobs
(no health checks: it has none) runs in the same window for reference.

CPU is utime + stime of the supervisor process from /proc (threads included, jobs not).
"""

from __future__ import annotations

import argparse
import time

from bench import common, configs


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(prog="python -m bench.idle_cpu", description=__doc__)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--settle", type=float, default=5)
    args = parser.parse_args(argv)
    peers = [p for p in ("pilot", "supervisord") if p not in common.missing_peers(["supervisord"])]
    health = configs.HealthServer()
    used: dict[str, float] = {}
    try:
        with common.registry() as registry, common.workdir("idle") as directory:
            configs.populate(registry, 10)
            procs = {}
            for peer in peers:
                peer_dir = directory / peer
                peer_dir.mkdir()
                config = configs.full_pilot(
                    peer_dir, registry, templates=0, telemetry=False, health_url=health.url
                )
                procs[peer] = common.spawn(configs.peer_argv(peer, peer_dir, 10, config))
            try:
                time.sleep(args.settle)
                before = {peer: common.cpu_seconds(proc.pid) for peer, proc in procs.items()}
                start = time.monotonic()
                time.sleep(args.seconds)
                elapsed = time.monotonic() - start
                for peer, proc in procs.items():
                    used[peer] = common.cpu_seconds(proc.pid) - before[peer]
                passing = len(registry.request("GET", "/v1/health/checks/job1") or [])
            finally:
                for proc in procs.values():
                    common.stop(proc)
    finally:
        health.close()
    rows = [
        [peer, f"{used[peer]:.2f}", f"{elapsed:.0f}", f"{100 * used[peer] / elapsed:.3f}"]
        for peer in peers
    ]
    text = common.table(["peer", "CPU s", "window s", "% of one core"], rows)
    text += f"\n\n(job1's checks in the registry: {passing}; health checks every 5 s)"
    data = {"cpu_seconds": used, "window": elapsed}
    common.emit("idle_cpu", "## 4. idle CPU\n\n" + text, data)
    return data


if __name__ == "__main__":
    main()
