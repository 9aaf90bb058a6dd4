"""Figure 9, signal forwarding: SIGHUP to the supervisor → received by the job.

Every peer runs at once, each with a job that writes CLOCK_MONOTONIC in its SIGHUP handler;
SIGHUPs go to the peers in a fresh random order each round. Direct: SIGHUP sent to the job
itself (the kernel's and the job's own part). supervisord is absent: it takes SIGHUP as
"reload my config" and has no way to forward a signal to a program.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import time
from pathlib import Path

from bench import common

PEERS = ["direct", "tini", "dumb-init", "pilot"]


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(prog="python -m bench.forwarding", description=__doc__)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args(argv)
    peers = [p for p in PEERS if p not in common.missing_peers(PEERS)]
    results: dict[str, list[float]] = {p: [] for p in peers}
    with common.workdir("forwarding") as directory:
        procs, stamps = {}, {}
        for peer in peers:
            peer_dir = directory / peer
            peer_dir.mkdir()
            stamps[peer] = peer_dir / "hup"
            argv_ = common.wrap(
                peer, [*common.SIGNAL_STAMP, str(stamps[peer])], peer_dir, forward=["SIGHUP"]
            )
            procs[peer] = common.spawn(argv_)
        try:
            for peer in peers:
                ready = Path(f"{stamps[peer]}.ready")
                assert common.wait_for(ready.exists, 20), f"{peer} did not start"
            time.sleep(0.5)
            for _ in range(args.runs):
                order = list(peers)
                random.shuffle(order)
                for peer in order:
                    seen = len(common.stamps(stamps[peer]))
                    sent = time.monotonic()
                    os.kill(procs[peer].pid, signal.SIGHUP)
                    got = common.wait_for(lambda p=peer, n=seen: common.stamps(stamps[p])[n:], 5)
                    if got:
                        results[peer].append(got[0] - sent)
                    time.sleep(0.005)
        finally:
            for proc in procs.values():
                common.stop(proc)
    base = common.median(results["direct"])
    rows = [
        [
            peer,
            len(results[peer]),
            common.ms(common.median(results[peer])),
            common.ms(common.percentile(results[peer], 99)),
            common.ms(common.median(results[peer]) - base),
            f"{common.median(results[peer]) / common.median(results['pilot']):.2f}",
        ]
        for peer in peers
    ]
    text = common.table(
        ["peer", "n", "SIGHUP→job median ms", "p99 ms", "over direct ms", "÷ pilot"], rows
    )
    common.emit("forwarding", "## 9. signal forwarding\n\n" + text, {"latency": results})
    return {"latency": results}


if __name__ == "__main__":
    main()
