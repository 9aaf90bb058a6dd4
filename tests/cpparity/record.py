"""Record what the real ContainerPilot does, as committed test data. It only runs a binary given
by the environment; it builds nothing:

    CONTAINERPILOT=/path/to/containerpilot python3 -m tests.cpparity.record ending

writes tests/data/containerpilot_parity/ending.json (each scenario of tests/cpparity/ending.py:
does it end by itself, its exit code, how many times each job ran).
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.cpparity.ending import SCENARIOS

DATA = Path(__file__).resolve().parents[1] / "data" / "containerpilot_parity"
OBSERVE = 3.0  # seconds a config that should keep running is watched, once its jobs settled


def binary() -> str:
    path = os.environ.get("CONTAINERPILOT")
    if not path:
        sys.exit("set CONTAINERPILOT to the containerpilot binary to record")
    return path


def version(path: str) -> str:
    out = subprocess.run([path, "-version"], capture_output=True, text=True, check=True).stdout
    fields = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    return f"{fields['Version']} (GitHash {fields['GitHash']})"


def runs(log: Path) -> dict[str, int]:
    lines = log.read_text().split() if log.exists() else []
    return dict(sorted(collections.Counter(lines).items()))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_scenario(path: str, scenario: dict[str, Any]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp, "cp.json5")
        text = scenario["config"].replace("{dir}", tmp).replace("{port}", str(free_port()))
        config.write_text(text)
        log = Path(tmp, "log")
        started = time.monotonic()
        proc = subprocess.Popen(
            [path, "-config", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        if scenario["ends"]:
            code = proc.wait(60)
            return {"ended": True, "exit": code, "runs": runs(log),
                    "seconds": round(time.monotonic() - started, 1)}  # fmt: skip
        want = set(scenario["settled"]) or {"app"}
        while not want <= set(runs(log)):
            time.sleep(0.1)
        time.sleep(OBSERVE)
        running = proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        code = proc.wait(60)
        return {"ended": not running, f"running_{OBSERVE:g}s_after_settled": running,
                "exit_after_sigterm": code, "runs": runs(log),
                "seconds_after_sigterm": round(time.monotonic() - stopped, 1)}  # fmt: skip


def record_ending(path: str) -> dict[str, Any]:
    return {
        "containerpilot": version(path),
        "recorded": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d"),
        "how": "each config run by `containerpilot -config {dir}/cp.json5` (not PID 1), "
        "consul unreachable (127.0.0.1:1), {port} a free port; a config that does not end by "
        f"itself watched for {OBSERVE:g} s after its `settled` jobs ran, then sent SIGTERM; "
        "runs: lines its jobs appended to {dir}/log",
        "scenarios": [{**s, "containerpilot": run_scenario(path, s)} for s in SCENARIOS],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["ending"])
    args = parser.parse_args(argv)
    path = binary()
    data = record_ending(path)
    out = DATA / f"{args.what}.json"
    out.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
