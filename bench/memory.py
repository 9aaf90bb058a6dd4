"""Figure 3, memory: steady RSS of the supervisor process (its jobs not counted).

Two set-ups: 1 job (`sleep`); and 10 jobs with, for pilot, 10 watches, 3 templates over the
watched services and telemetry on (registry: `pilot consul-dev` with 10 services of 2 instances).
tini and dumb-init run one child, so their 10 jobs are a shell's; supervisord runs 10 programs.
RSS is sampled every 0.5 s once the set-up has settled; the median is reported.

With --breakdown, where pilot's memory goes instead: the RSS of a bare interpreter that imports
pilot's heavy dependencies one after another (a new process for each step, median of --runs),
and pilot's full set-up run twice side by side, as is and with MALLOC_ARENA_MAX=1: RSS, the
anonymous part of it (/proc/PID/smaps_rollup) and the number of threads.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import time
from pathlib import Path

from bench import common, configs

PEERS = ["tini", "dumb-init", "pilot", "supervisord"]
# --breakdown: cumulative imports into a bare interpreter (python -S first, then with site)
LADDER = [
    ("python -S", True, ""),
    ("python (with site)", False, ""),
    ("+ asyncio", False, "asyncio"),
    ("+ jinja2", False, "jinja2"),
    ("+ requests", False, "requests"),
    ("+ consul (py-consul)", False, "consul"),
    ("+ prometheus_client", False, "prometheus_client"),
]
PRINT_RSS = (
    "import re; print(re.search(r'^VmRSS:\\s+(\\d+)', open('/proc/self/status').read(), re.M)[1])"
)


def measure(
    peer: str, jobs: int, registry: common.Registry | None, settle: float, count: int = 10
) -> list[int]:
    with common.workdir(f"memory-{peer}") as directory:
        config = (
            configs.full_pilot(directory, registry, jobs=jobs)
            if registry
            else {"jobs": [{"name": "job0", "exec": configs.SLEEPER}]}
        )
        proc = common.spawn(configs.peer_argv(peer, directory, jobs, config))
        try:
            time.sleep(settle)
            if proc.poll() is not None:
                raise RuntimeError(f"{peer} exited with {proc.returncode}")
            samples = []
            for _ in range(count):
                samples.append(common.rss_kib(proc.pid))
                time.sleep(0.5)
            return samples
        finally:
            common.stop(proc)


def ladder(runs: int) -> list[list[object]]:
    """RSS (KiB) of each cumulative step of LADDER, median of `runs` new processes."""
    rows: list[list[object]] = []
    modules: list[str] = []
    previous = None
    for label, bare, module in LADDER:
        if module:
            modules.append(module)
        code = "".join(f"import {m}; " for m in modules) + PRINT_RSS
        argv = [common.PYTHON, *(["-S"] if bare else []), "-c", code]
        values = [
            int(subprocess.run(argv, env=common.ENV, capture_output=True, text=True).stdout)
            for _ in range(runs)
        ]
        rss = common.median(values)
        step = "" if previous is None else f"{(rss - previous) / 1024:+.1f}"
        rows.append([label, f"{rss / 1024:.1f}", step])
        previous = rss
    return rows


def anonymous_kib(pid: int) -> int:
    text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    match = re.search(r"^Anonymous:\s+(\d+)", text, re.M)
    return int(match.group(1)) if match else 0


def breakdown(args: argparse.Namespace) -> None:
    rows = ladder(args.runs)
    text = common.table(["bare interpreter", "RSS MiB", "step MiB"], rows)
    variants = {"as is": {}, "MALLOC_ARENA_MAX=1": {"MALLOC_ARENA_MAX": "1"}}
    found: dict[str, dict[str, float]] = {}
    with common.registry() as registry, common.workdir("memory-breakdown") as directory:
        configs.populate(registry, 10)
        procs = {}
        for n, (name, env) in enumerate(variants.items()):
            peer_dir = directory / str(n)
            peer_dir.mkdir()
            argv = configs.peer_argv("pilot", peer_dir, 10, configs.full_pilot(peer_dir, registry))
            procs[name] = common.spawn(argv, env={**common.ENV, **env})
        try:
            time.sleep(args.settle)
            samples: dict[str, list[tuple[int, int]]] = {name: [] for name in procs}
            for _ in range(args.samples):
                for name, proc in procs.items():
                    samples[name].append((common.rss_kib(proc.pid), anonymous_kib(proc.pid)))
                time.sleep(0.5)
            for name, proc in procs.items():
                found[name] = {
                    "rss": common.median([r for r, _ in samples[name]]),
                    "anonymous": common.median([a for _, a in samples[name]]),
                    "threads": len(list(Path(f"/proc/{proc.pid}/task").iterdir())),
                }
        finally:
            for proc in procs.values():
                common.stop(proc)
    text += "\n\n" + common.table(
        ["pilot, full set-up", "RSS MiB", "anonymous MiB", "threads"],
        [
            [name, f"{v['rss'] / 1024:.1f}", f"{v['anonymous'] / 1024:.1f}", v["threads"]]
            for name, v in found.items()
        ],
    )
    data = {"ladder": rows, "full_setup": found}
    common.emit("memory_breakdown", "## 3. memory, where it goes\n\n" + text, data)


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--settle", type=float, default=6.0)
    parser.add_argument("--samples", type=int, default=10, help="RSS samples, 0.5 s apart")
    parser.add_argument("--breakdown", action="store_true", help="where pilot's memory goes")
    args = parser.parse_args(argv)
    if args.breakdown:
        breakdown(args)
        return {}
    peers = [p for p in PEERS if p not in common.missing_peers(PEERS)]
    small: dict[str, list[float]] = {}
    full: dict[str, list[float]] = {}
    small = common.alternate(
        peers, args.runs, lambda p: common.median(measure(p, 1, None, args.settle, args.samples))
    )
    with common.registry() as registry:
        configs.populate(registry, 10)
        full = common.alternate(
            peers,
            args.runs,
            lambda p: common.median(measure(p, 10, registry, args.settle, args.samples)),
        )
    rows = [
        [
            peer,
            f"{common.median(small[peer]) / 1024:.1f}",
            f"{common.median(full[peer]) / 1024:.1f}",
            f"{common.median(full[peer]) / common.median(full['pilot']):.2f}",
        ]
        for peer in peers
    ]
    text = common.table(
        [
            "peer",
            "RSS, 1 job (MiB)",
            "RSS, 10 jobs + 10 watches + 3 templates + telemetry (MiB)",
            "÷ pilot",
        ],
        rows,
    )
    common.emit("memory", "## 3. memory\n\n" + text, {"one_job": small, "full": full})
    return {"one_job": small, "full": full}


if __name__ == "__main__":
    main()
