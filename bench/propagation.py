"""Figure 6, change propagation: a backend turns passing in `pilot consul-dev` → template
rendered → SIGHUP received by the job, with `wait: {min: "0s"}`.

One backend with a TTL check is flipped to passing (a trial) and back to critical (not timed),
`--gap` apart. t0 is read just before the PUT /v1/agent/check/pass; "rendered" is the output
file's mtime (realtime clock, converted); "SIGHUP" is the job's own CLOCK_MONOTONIC stamp.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from bench import common

TEMPLATE = """{% for i in service("backend") %}server {{ i.address }}:{{ i.port }};
{% else %}# none
{% endfor %}"""


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(prog="python -m bench.propagation", description=__doc__)
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--gap", type=float, default=0.25, help="seconds between flips")
    args = parser.parse_args(argv)
    signalled, rendered = run(args.trials, args.gap)
    data: dict[str, object] = {"signalled": signalled, "rendered": rendered}
    rows = [
        [
            what,
            len(values),
            common.ms(common.median(values)),
            common.ms(common.percentile(values, 90)),
            common.ms(common.percentile(values, 99)),
            common.ms(max(values)),
        ]
        for what, values in (("file rendered", rendered), ("SIGHUP received", signalled))
    ]
    text = common.table(["passing →", "n", "p50 ms", "p90 ms", "p99 ms", "max ms"], rows)
    common.emit("propagation", "## 6. change propagation\n\n" + text, data)
    return data


def run(trials: int, gap: float) -> tuple[list[float], list[float]]:
    """(→ SIGHUP, → rendered) of each trial, in seconds."""
    signalled: list[float] = []
    rendered: list[float] = []
    with common.registry() as registry, common.workdir("propagation") as directory:
        registry.register("backend", "b1", 8080, ttl=True)
        stamp = directory / "hup"
        dest = directory / "up.conf"
        config = {
            "consul": registry.address,
            "jobs": [{"name": "app", "exec": [*common.SIGNAL_STAMP, str(stamp)]}],
            "templates": [
                {
                    "name": "up",
                    "contents": TEMPLATE,
                    "dest": str(dest),
                    "wait": {"min": "0s"},
                    "on_change": [{"signal": "SIGHUP", "job": "app"}],
                }
            ],
        }
        path = common.write_pilot_config(directory, config)
        log = (directory / "pilot.log").open("wb")
        proc = common.spawn([*common.pilot_argv(), "run", "-c", str(path)], stderr=log)
        try:
            assert common.wait_for(Path(f"{stamp}.ready").exists, 20), "app did not start"
            time.sleep(1)
            for _ in range(trials):
                for state in ("pass", "fail"):
                    seen = len(common.stamps(stamp))
                    wall, sent = time.time(), time.monotonic()
                    registry.request("PUT", f"/v1/agent/check/{state}/b1-ttl")
                    got = common.wait_for(lambda n=seen: common.stamps(stamp)[n:], 10)
                    if state == "pass" and got:
                        signalled.append(got[0] - sent)
                        rendered.append(os.stat(dest).st_mtime - wall)
                    time.sleep(gap)
        finally:
            common.stop(proc)
            log.close()
    return signalled, rendered


if __name__ == "__main__":
    main()
