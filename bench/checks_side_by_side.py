"""CPU per http check, two pilots side by side: this checkout's and another's (`--baseline DIR`,
e.g. `git archive <commit> | tar -x -C DIR`), with ContainerPilot too when CONTAINERPILOT_BIN
names it, all in one window so that the machine's load is the same for each. Each runs 10 jobs
with an http check against one loopback server: by default bench.vs_containerpilot's realistic
set-up, checks only (every 5 s, TTL reports to the registry: CONSUL_BIN or `pilot consul-dev`);
with `--no-registry`, checks every `--interval` and nothing else (the check, the bus, the log).
Figures: CPU per check of each supervisor (its children not counted), and of pilot's main
thread (its loop); median of `--runs` windows of `--seconds`.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

from bench import common, configs, vs_containerpilot


@contextlib.contextmanager
def maybe_registry(wanted: bool) -> Iterator[common.Registry | None]:
    if not wanted:
        yield None
        return
    with vs_containerpilot.registry() as registry:
        configs.populate(registry, 10)
        yield registry


def argv_for(
    peer: str, where: Path, registry: common.Registry | None, url: str, interval: float
) -> list[str]:
    kind = "containerpilot" if peer == "containerpilot" else "pilot"
    if registry is not None:
        return vs_containerpilot.realistic_argv(kind, where, registry, url, True)
    health = {"http": url, "interval": f"{interval:g}s"}
    jobs = [
        {"name": f"job{j}", "exec": configs.SLEEPER, "main": j == 0, "health": health}
        for j in range(10)
    ]
    return configs.peer_argv("pilot", where, 10, {"jobs": jobs})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.checks_side_by_side", description=__doc__
    )
    parser.add_argument("--baseline", type=Path, required=True, help="another pilot checkout")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--no-registry", action="store_true")
    parser.add_argument("--interval", type=float, default=1.0, help="with --no-registry")
    args = parser.parse_args(argv)
    registered = not args.no_registry
    interval = vs_containerpilot.HEALTH_INTERVAL if registered else args.interval
    trees = {"pilot": str(common.REPO), f"pilot {args.baseline}": str(args.baseline.resolve())}
    peers = [*trees, *(["containerpilot"] if registered and common.containerpilot_bin() else [])]
    results: dict[str, list[tuple[float, float]]] = {peer: [] for peer in peers}
    loads: list[str] = []
    health = configs.HealthServer()
    try:
        with maybe_registry(registered) as registry:
            for _ in range(args.runs):
                with common.workdir("checks-side-by-side") as directory:
                    procs = {}
                    for n, peer in enumerate(peers):
                        where = directory / f"p{n}"
                        where.mkdir()
                        env = {**common.ENV, "PYTHONPATH": trees.get(peer, str(common.REPO))}
                        command = argv_for(peer, where, registry, health.url, interval)
                        procs[peer] = common.spawn(command, cwd=where, env=env)
                    try:
                        time.sleep(3)
                        before = {
                            peer: (
                                common.cpu_seconds(proc.pid),
                                vs_containerpilot.main_thread_cpu(proc.pid),
                            )
                            for peer, proc in procs.items()
                        }
                        started = time.monotonic()
                        time.sleep(args.seconds)
                        checks = 10 * (time.monotonic() - started) / interval
                        for peer, proc in procs.items():
                            used = common.cpu_seconds(proc.pid) - before[peer][0]
                            main = vs_containerpilot.main_thread_cpu(proc.pid) - before[peer][1]
                            results[peer].append((1000 * used / checks, 1000 * main / checks))
                        loads.append(Path("/proc/loadavg").read_text().split()[0])
                    finally:
                        for proc in procs.values():
                            common.stop(proc)
    finally:
        health.close()
    rows = [
        [
            peer,
            len(values),
            f"{common.median([v[0] for v in values]):.2f}",
            f"{common.median([v[1] for v in values]):.2f}" if peer.startswith("pilot") else "",
        ]
        for peer, values in results.items()
    ]
    text = common.table(["peer", "windows", "CPU per check ms", "of which pilot's loop"], rows)
    setup = "realistic set-up, checks only" if registered else "checks only, no registry"
    text += (
        f"\n\n({setup}; a check every {interval:g} s per job, 10 jobs; "
        f"{args.seconds:g} s windows; load average {', '.join(loads)})"
    )
    common.emit("checks_side_by_side", text, {"results": results, "loads": loads})


if __name__ == "__main__":
    main()
