"""`python -m bench`: the quick subset of every figure (under 3 minutes); `python -m bench all`
runs each figure in full (about 20 minutes). Tables go to stdout, raw numbers to bench/results/.
"""

from __future__ import annotations

import shutil
import sys
import time

from bench import (
    common,
    devconsul_perf,
    forwarding,
    idle_cpu,
    importtime,
    memory,
    nginx_e2e,
    propagation,
    reaping,
    render_scale,
    startup,
    stop,
    traffic_proxy,
    up_devstack,
    vs_containerpilot,
)

QUICK = [
    (importtime.main, ["--runs", "3"]),
    (startup.main, ["--runs", "8"]),
    (stop.main, ["--runs", "5"]),
    (forwarding.main, ["--runs", "50"]),
    (reaping.main, ["--runs", "1"]),
    (propagation.main, ["--trials", "15"]),
    (nginx_e2e.main, ["--trials", "5"]),
    (render_scale.main, ["--repeat", "5", "--runs", "1", "--watchers", "10"]),
    (memory.main, ["--runs", "1", "--settle", "3", "--samples", "4"]),
    (idle_cpu.main, ["--seconds", "15", "--settle", "3"]),
    (devconsul_perf.main, ["--runs", "3", "--seconds", "2"]),
    (up_devstack.main, ["--runs", "3"]),
    (traffic_proxy.main, ["--requests", "1000", "--runs", "1", "--seconds", "2"]),
    (vs_containerpilot.main, ["--runs", "3", "--only", "start", "--only", "stop"]),
]
FULL = [
    (importtime.main, []),
    (startup.main, ["--hyperfine"]),
    (stop.main, []),
    (forwarding.main, []),
    (reaping.main, []),
    (propagation.main, []),
    (nginx_e2e.main, []),
    (render_scale.main, []),
    (memory.main, []),
    (idle_cpu.main, []),
    (devconsul_perf.main, []),
    (up_devstack.main, []),
    (traffic_proxy.main, []),
    (vs_containerpilot.main, []),
]


def main(argv: list[str]) -> int:
    plan = FULL if argv[:1] == ["all"] else QUICK
    missing = [
        tool
        for tool in ("tini", "dumb-init", "supervisord", "hyperfine", "nginx")
        if not shutil.which(tool)
    ]
    if missing:
        print(f"# missing {', '.join(missing)}; install with: {common.APT_LINE}")
    facts = common.machine()
    print("# " + ", ".join(f"{k}: {v}" for k, v in facts.items()) + "\n", flush=True)
    started = time.monotonic()
    for figure, args in plan:
        figure(args)
        print(flush=True)
    print(f"# {time.monotonic() - started:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
