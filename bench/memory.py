"""Figure 3, memory: steady RSS of the supervisor process (its jobs not counted).

Two set-ups: 1 job (`sleep`); and 10 jobs with, for pilot, 10 watches, 3 templates over the
watched services and telemetry on (registry: `pilot consul-dev` with 10 services of 2 instances).
tini and dumb-init run one child, so their 10 jobs are a shell's; supervisord runs 10 programs.
RSS is sampled every 0.5 s once the set-up has settled; the median is reported.
"""

from __future__ import annotations

import argparse
import time

from bench import common, configs

PEERS = ["tini", "dumb-init", "pilot", "supervisord"]


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


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--settle", type=float, default=6.0)
    parser.add_argument("--samples", type=int, default=10, help="RSS samples, 0.5 s apart")
    args = parser.parse_args(argv)
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
