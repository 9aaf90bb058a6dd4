"""Figure 5, reaping: 1000 orphaned zombies → all reaped by PID 1; how long, and how many left.

Each peer runs as PID 1 of a new PID namespace (`unshare --pid --fork --mount-proc`, as a
container's init). Its job forks a child that forks N children which exit at once (zombies of
that child), stamps CLOCK_MONOTONIC and exits: the N zombies are re-parented to PID 1. The
harness then watches PID 1's children until only the job is left. "direct" is the job itself as
PID 1, which never reaps: what a container without an init gets.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import time
from pathlib import Path

from bench import common

PEERS = ["direct", "tini", "dumb-init", "pilot", "supervisord"]
ZOMBIE_MAKER = common.job("""
    import os, sys, time
    stamp, count = sys.argv[1], int(sys.argv[2])
    maker = os.fork()
    if maker == 0:
        for _ in range(count):
            if os.fork() == 0:
                os._exit(0)
        time.sleep(0.3)  # every child has exited: `count` zombies of this process
        with open(stamp, "w") as f:
            f.write(f"{time.monotonic_ns()}\\n")
        os._exit(0)  # now they are orphans: PID 1 adopts them
    os.waitpid(maker, 0)
    open(stamp + ".reaped", "w").close()
    time.sleep(3600)
""")


def zombies(pid: int) -> int:
    """Children of `pid` in state Z."""
    count = 0
    for child in common.children(pid):
        try:
            state = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        count += state == "Z"
    return count


def trial(peer: str, directory: Path, count: int, n: list[int]) -> tuple[float, int] | None:
    """(maker's exit → PID 1 has no zombie left, zombies left 2 s later)."""
    n[0] += 1
    stamp = directory / f"{peer}-{n[0]}"
    argv = common.wrap(peer, [*ZOMBIE_MAKER, str(stamp), str(count)], directory)
    proc = common.spawn(["unshare", "--pid", "--fork", "--mount-proc", *argv])
    try:
        init = common.wait_for(lambda: common.children(proc.pid), 10)
        if not init:
            return None
        pid1 = init[0]
        if not common.wait_for(Path(f"{stamp}.reaped").exists, 60):
            return None
        done = common.wait_for(lambda: len(common.children(pid1)) <= 1, 5, 0.0005)
        ended = time.monotonic()
        time.sleep(2)
        left = zombies(pid1) if peer != "direct" else len(common.children(pid1))
        made = common.stamps(stamp)
        if not made:
            return None
        return (ended - made[0] if done else float("inf")), left
    finally:
        with contextlib.suppress(OSError, IndexError):
            os.kill(common.children(proc.pid)[0], signal.SIGKILL)
        common.kill_group(proc)


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(prog="python -m bench.reaping", description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--zombies", type=int, default=1000)
    args = parser.parse_args(argv)
    if os.geteuid() != 0 or not shutil.which("unshare"):
        print("# reaping needs root and unshare (apt-get install -y util-linux)")
        return {}
    peers = [p for p in PEERS if p not in common.missing_peers(PEERS)]
    results: dict[str, list[tuple[float, int]]] = {p: [] for p in peers}
    with common.workdir("reaping") as directory:
        n = [0]

        def one(peer: str) -> float | None:
            result = trial(peer, directory, args.zombies, n)
            if result is not None:
                results[peer].append(result)
            return None if result is None else result[0]

        common.alternate(peers, args.runs, one)
    rows = []
    for peer in peers:
        times = [t for t, _ in results[peer]]
        left = [z for _, z in results[peer]]
        rows.append(
            [
                peer,
                len(times),
                common.ms(common.median(times)) if peer != "direct" else "never",
                common.ms(max(times)) if peer != "direct" else "never",
                max(left) if left else "",
            ]
        )
    text = common.table(
        ["peer (PID 1)", "n", f"reap {args.zombies} median ms", "max ms", "zombies left (max)"],
        rows,
    )
    common.emit("reaping", "## 5. reaping\n\n" + text, {"results": results})
    return {"results": results}


if __name__ == "__main__":
    main()
