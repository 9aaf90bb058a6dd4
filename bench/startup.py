"""Figure 1, start overhead: exec of the supervisor → first instruction of the main job.

The job writes CLOCK_MONOTONIC as its first statement; the harness reads the same clock just
before it spawns the supervisor. Every peer pays the same fork+exec and the same job start-up,
so a peer's median minus direct exec's median is the supervisor's own start cost.

Also the whole life of a trivial run (supervisor → `true` → supervisor exited), and with
`--hyperfine` the same through hyperfine as a cross-check.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import time
from pathlib import Path

from bench import common

PEERS = ["direct", "tini", "dumb-init", "pilot", "supervisord"]
STAMP = common.job("""
    import sys, time
    with open(sys.argv[1], "a") as f:
        f.write(f"{time.monotonic_ns()}\\n")
    time.sleep(3600)
""")


def first_instruction(peer: str, directory: Path, trial: list[int]) -> float | None:
    """Seconds from spawning `peer` to its job's first statement."""
    trial[0] += 1
    stamp = directory / f"{peer}-{trial[0]}.stamp"
    stamp.unlink(missing_ok=True)  # a stale stamp would be read as this trial's
    argv = common.wrap(peer, [*STAMP, str(stamp)], directory)
    started = time.monotonic()
    proc = common.spawn(argv, cwd=directory)
    try:
        found = common.wait_for(lambda: common.stamps(stamp), 20)
    finally:
        common.stop(proc)
    return found[0] - started if found else None


def whole_run(peer: str, directory: Path) -> float | None:
    """Seconds from spawning `peer` with job `true` to the supervisor's exit."""
    argv = common.wrap(peer, ["true"], directory)
    started = time.monotonic()
    proc = common.spawn(argv, cwd=directory)
    ended = common.wait_exit(proc, 20)
    return None if ended is None else ended - started


def hyperfine(directory: Path, runs: int) -> dict[str, float]:
    """Mean wall time of a trivial run per peer, measured by hyperfine (peers run in turn)."""
    commands = {peer: common.wrap(peer, ["true"], directory) for peer in PEERS[:4]}
    out = directory / "hyperfine.json"
    subprocess.run(
        [
            "hyperfine",
            "-N",
            "--warmup",
            "3",
            "--runs",
            str(runs),
            "--export-json",
            str(out),
            *(" ".join(argv) for argv in commands.values()),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    results = json.loads(out.read_text())["results"]
    return {peer: r["median"] for peer, r in zip(commands, results, strict=True)}


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--hyperfine", action="store_true", help="also the hyperfine cross-check")
    args = parser.parse_args(argv)
    peers = [p for p in PEERS if p not in common.missing_peers(PEERS)]
    with common.workdir("startup") as directory:
        counter = [0]  # one counter for warm-up and trials: every run has its own stamp file
        for peer in peers:  # warm the page cache: the first exec of anything is slow
            first_instruction(peer, directory, counter)
        first = common.alternate(
            peers, args.runs, lambda p: first_instruction(p, directory, counter)
        )
        lifecycle = common.alternate(
            [p for p in peers if p != "supervisord"], args.runs, lambda p: whole_run(p, directory)
        )
        hyper = (
            hyperfine(directory, args.runs) if args.hyperfine and shutil.which("hyperfine") else {}
        )
    base = common.median(first["direct"])
    rows = []
    for peer in peers:
        m = common.median(first[peer])
        life = common.median(lifecycle[peer]) if peer in lifecycle else float("nan")
        rows.append(
            [
                peer,
                len(first[peer]),
                common.ms(m),
                common.ms(common.percentile(first[peer], 90)),
                common.ms(m - base),
                f"{m / common.median(first['pilot']):.2f}",
                common.ms(life) if life == life else "n/a",
                common.ms(hyper[peer]) if peer in hyper else "",
            ]
        )
    text = common.table(
        [
            "peer",
            "n",
            "exec→job median ms",
            "p90 ms",
            "over direct ms",
            "÷ pilot",
            "exec→`true`→exit median ms",
            "hyperfine median ms",
        ],
        rows,
    )
    data = {"first_instruction": first, "whole_run": lifecycle, "hyperfine": hyper}
    common.emit("startup", "## 1. start overhead\n\n" + text, data)
    return data


if __name__ == "__main__":
    main()
