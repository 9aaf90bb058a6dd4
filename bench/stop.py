"""Figure 2, stop latency: SIGTERM to the supervisor → the supervisor has exited.

The job exits at once on SIGTERM, writing CLOCK_MONOTONIC first; "over the job" is the time
from that stamp to the supervisor's exit as seen through a pidfd (direct exec: the job's own
exit, i.e. the kernel's part). With --finalise, also pilot leaving through the interpreter's
finalisation instead of os._exit, as it did before bench/ measured this (common.PILOT_FINALISING).
"""

from __future__ import annotations

import argparse
import os
import signal
import time
from pathlib import Path

from bench import common

PEERS = ["direct", "tini", "dumb-init", "pilot", "supervisord"]


def trial(peer: str, directory: Path, counter: list[int]) -> tuple[float, float] | None:
    """(SIGTERM → exit, job's exit stamp → exit) in seconds."""
    counter[0] += 1
    stamp = directory / f"{peer}-{counter[0]}"
    proc = common.spawn(common.wrap(peer, [*common.SIGNAL_STAMP, str(stamp)], directory))
    try:
        ready = Path(f"{stamp}.ready")
        if not common.wait_for(ready.exists, 20):
            return None
        time.sleep(0.3)  # let the supervisor finish starting (pilot: its startup events)
        sent = time.monotonic()
        os.kill(proc.pid, signal.SIGTERM)
        ended = common.wait_exit(proc, 20)
    finally:
        common.kill_group(proc)
    job_exit = common.stamps(Path(f"{stamp}.term"))
    if ended is None or not job_exit:
        return None
    return ended - sent, ended - job_exit[0]


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(prog="python -m bench.stop", description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument(
        "--finalise",
        action="store_true",
        help="also pilot leaving through the interpreter's finalisation (as before os._exit)",
    )
    args = parser.parse_args(argv)
    peers = [p for p in PEERS if p not in common.missing_peers(PEERS)]
    if args.finalise:
        peers.insert(peers.index("pilot") + 1, "pilot-finalising")
    pairs: dict[str, list[tuple[float, float]]] = {p: [] for p in peers}
    with common.workdir("stop") as directory:
        counter = [0]

        def one(peer: str) -> float | None:
            result = trial(peer, directory, counter)
            if result is None:
                return None
            pairs[peer].append(result)
            return result[0]

        common.alternate(peers, args.runs, one)
    rows = []
    pilot_total = common.median([t for t, _ in pairs["pilot"]])
    for peer in peers:
        total = [t for t, _ in pairs[peer]]
        over = [o for _, o in pairs[peer]]
        rows.append(
            [
                peer,
                len(total),
                common.ms(common.median(total)),
                common.ms(common.percentile(total, 90)),
                common.ms(common.median(over)),
                common.ms(common.percentile(over, 90)),
                f"{common.median(total) / pilot_total:.2f}",
            ]
        )
    text = common.table(
        [
            "peer",
            "n",
            "SIGTERM→exit median ms",
            "p90 ms",
            "job's exit→exit median ms",
            "p90 ms",
            "÷ pilot",
        ],
        rows,
    )
    data = {"pairs": pairs}
    common.emit("stop", "## 2. stop latency\n\n" + text, data)
    return data


if __name__ == "__main__":
    main()
