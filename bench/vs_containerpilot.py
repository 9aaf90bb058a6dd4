"""Against ContainerPilot: every row of issue 32's table, pilot and real ContainerPilot 3.8.0 (Go)
in the same rounds, ratios taken per round.

ContainerPilot and Consul are not shipped: the bench finds them through CONTAINERPILOT_BIN and
CONSUL_BIN and leaves ContainerPilot's rows out without the first. Without CONSUL_BIN the
registry is `pilot consul-dev` (said in the output), for both. With PILOT_BASELINE (another
checkout of pilot, e.g. `git archive COMMIT | tar -x -C DIR`), start, stop and rss run its pilot
too (pilot-base, pilot---base) in the same rounds: old against new.

Sections (`--only NAME` runs one):
- start: exec → the job's first statement, over direct exec (direct, tini, dumb-init,
  `pilot -- CMD`, `pilot run` of a one-job config, ContainerPilot, and the yardstick python3:
  the job started by a Python with `site`, as pilot is); and in the same rounds the
  CPU (user + system) of a whole run of `true` under each, beside the yardsticks
  `python3 -c 'import asyncio'` and `python3 -I -S -c pass`: "÷ asyncio" is per round.
- stop: SIGTERM → exit, the job exiting at once (ContainerPilot with `stopTimeout: -1`), and
  the yardstick python3+asyncio: the job itself in a Python that imported asyncio, the floor
  of a Python supervisor that waited for nothing.
- rss: steady RSS of the supervisor with 1 job (`sleep`), beside the floors: a Python that
  imported asyncio and sleeps, and `python3 -I -S`.
- realistic: 10 jobs with an http check every 5 s (ContainerPilot: `curl`, its only way) +
  10 watches + telemetry, pilot and ContainerPilot side by side in one window: RSS, CPU over
  the window (% of a core), and CPU per check (the supervisor's own, its children not counted).
- register: exec → the job's service passing in the registry (http check every 5 s).
- propagate: a service changes in the registry → a job started by the watch's `changed` runs
  (pilot: blocking query; ContainerPilot: polls every `interval`, 1 s here).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import resource
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench import common, configs, startup

SECTIONS = ("start", "stop", "rss", "realistic", "register", "propagate")
HEALTH_INTERVAL = 5


def cp_bin() -> str:
    return common.containerpilot_bin()


def consul_bin() -> str:
    return os.environ.get("CONSUL_BIN", "")


# --- the registry: real Consul (CONSUL_BIN) or pilot consul-dev --------------------------------


class Consul(common.Registry):
    """`consul agent -dev` on free loopback ports (DNS, gRPC and WAN off)."""

    def __init__(self, binary: str, directory: Path) -> None:
        http, lan, server = (configs.free_port() for _ in range(3))
        hcl = (
            f"ports {{ http = {http}, dns = -1, grpc = -1, serf_lan = {lan}, serf_wan = -1, "
            f"server = {server} }}"
        )
        self.proc = common.spawn(
            [
                binary,
                "agent",
                "-dev",
                "-bind",
                "127.0.0.1",
                "-client",
                "127.0.0.1",
                "-data-dir",
                str(directory),
                "-hcl",
                hcl,
            ]
        )
        self.address = f"127.0.0.1:{http}"
        leader = common.wait_for(self._leader, 30, 0.05)
        assert leader, "consul agent -dev did not elect itself"

    def _leader(self) -> bool:
        with contextlib.suppress(OSError, ValueError):
            return bool(self.request("GET", "/v1/status/leader"))
        return False


@contextlib.contextmanager
def registry() -> Iterator[common.Registry]:
    if consul_bin():
        with common.workdir("consul") as directory:
            reg: common.Registry = Consul(consul_bin(), directory)
            try:
                yield reg
            finally:
                reg.close()
    else:
        with common.registry() as reg:
            yield reg


def registry_name() -> str:
    if not consul_bin():
        return "pilot consul-dev"
    out = subprocess.run([consul_bin(), "version"], capture_output=True, text=True, check=False)
    return out.stdout.splitlines()[0] if out.stdout else "Consul"


# --- rounds -----------------------------------------------------------------------------------


def rounds(
    peers: list[str], runs: int, trial: Callable[[str], float | None]
) -> list[dict[str, float]]:
    """`runs` rounds, the peers in a fresh random order each; a round keeps what succeeded."""
    out = []
    for _ in range(runs):
        order = list(peers)
        random.shuffle(order)
        got = {peer: trial(peer) for peer in order}
        out.append({peer: value for peer, value in got.items() if value is not None})
    return out


def column(results: list[dict[str, float]], peer: str) -> list[float]:
    return [r[peer] for r in results if peer in r]


def ratio(results: list[dict[str, float]], peer: str, base: str, offset: str = "") -> float:
    """Median over rounds of peer ÷ base (each less `offset`'s value of the round, if named)."""
    values = []
    for r in results:
        if peer in r and base in r and (not offset or offset in r):
            minus = r[offset] if offset else 0.0
            if r[base] - minus > 0:
                values.append((r[peer] - minus) / (r[base] - minus))
    return common.median(values)


def fmt_ratio(value: float) -> str:
    return "" if value != value else f"{value:.2f}"


# --- start ------------------------------------------------------------------------------------


def start_peers() -> list[str]:
    peers = ["direct", "tini", "dumb-init", "pilot--", "pilot"]
    peers = [p for p in peers if p not in common.missing_peers(peers)]
    if common.BASELINE:
        peers += ["pilot---base", "pilot-base"]
    return [*peers, "containerpilot"] if cp_bin() else peers


CPU_YARDSTICKS = {
    "python3 -c 'import asyncio'": [common.PYTHON, "-c", "import asyncio"],
    "python3 -I -S -c pass": [common.PYTHON, "-I", "-S", "-c", "pass"],
}


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def whole_run_cpu(argv: list[str], directory: Path) -> float | None:
    """CPU seconds (user + system) of one whole run of `argv`, its children included."""
    before = children_cpu()
    proc = common.spawn(argv, cwd=directory)
    if common.wait_exit(proc, 30) is None:
        return None
    return children_cpu() - before


def section_start(runs: int) -> str:
    supervisors = start_peers()
    peers = [*supervisors, "python3"]
    with common.workdir("vs-start") as directory:
        counter = [0]
        for peer in peers:  # the page cache: the first exec of anything is slow
            startup.first_instruction(peer, directory, counter)
        first = rounds(peers, runs, lambda p: startup.first_instruction(p, directory, counter))
        commands = {
            **CPU_YARDSTICKS,
            **{
                f"{peer} true": common.wrap(peer, ["true"], directory)
                for peer in supervisors
                if peer != "tini" and peer != "dumb-init"
            },
        }
        for argv in commands.values():
            whole_run_cpu(argv, directory)
        cpu = rounds(list(commands), runs, lambda c: whole_run_cpu(commands[c], directory))
    rows = []
    for peer in peers:
        over = [r[peer] - r["direct"] for r in first if peer in r and "direct" in r]
        rows.append(
            [
                peer,
                len(column(first, peer)),
                common.ms(common.median(column(first, peer))),
                common.ms(common.median(over)),
                fmt_ratio(ratio(first, peer, "containerpilot", "direct"))
                if "containerpilot" in peers
                else "",
            ]
        )
    text = common.table(
        ["peer", "n", "exec→job median ms", "over direct ms", "over direct ÷ ContainerPilot's"],
        rows,
    )
    asyncio_key = next(iter(CPU_YARDSTICKS))
    rows = [
        [
            name,
            len(column(cpu, name)),
            common.ms(common.median(column(cpu, name))),
            fmt_ratio(ratio(cpu, name, asyncio_key)),
        ]
        for name in commands
    ]
    text += "\n\n" + common.table(["whole run", "n", "CPU median ms", "÷ asyncio"], rows)
    common.emit("vs_cp_start", text, {"first": first, "cpu": cpu})
    return text


# --- stop -------------------------------------------------------------------------------------


def stop_trial(peer: str, directory: Path, counter: list[int], termed: list[str]) -> float | None:
    """SIGTERM → the supervisor's exit (a pidfd), in seconds; `termed` gets `peer` when the job
    saw the SIGTERM (ContainerPilot with `stopTimeout: -1` SIGKILLs the job right after)."""
    counter[0] += 1
    stamp = directory / f"{peer}-{counter[0]}"
    proc = common.spawn(common.wrap(peer, [*common.SIGNAL_STAMP, str(stamp)], directory))
    try:
        if not common.wait_for(Path(f"{stamp}.ready").exists, 20):
            return None
        time.sleep(0.3)  # let the supervisor finish starting: at least this, and until idle
        if not common.settled(proc.pid):
            return None
        sent = time.monotonic()
        os.kill(proc.pid, signal.SIGTERM)
        ended = common.wait_exit(proc, 20)
    finally:
        common.kill_group(proc)
    if common.stamps(Path(f"{stamp}.term")):
        termed.append(peer)
    return None if ended is None else ended - sent


def section_stop(runs: int) -> str:
    peers = [*start_peers(), "python3+asyncio"]
    termed: list[str] = []
    with common.workdir("vs-stop") as directory:
        counter = [0]
        results = rounds(peers, runs, lambda p: stop_trial(p, directory, counter, termed))
    rows = [
        [
            peer,
            len(column(results, peer)),
            common.ms(common.median(column(results, peer))),
            common.ms(common.percentile(column(results, peer), 90)),
            termed.count(peer),
            fmt_ratio(ratio(results, peer, "containerpilot")) if cp_bin() else "",
        ]
        for peer in peers
    ]
    text = common.table(
        [
            "peer",
            "n",
            "SIGTERM→exit median ms",
            "p90 ms",
            "job saw SIGTERM (runs)",
            "÷ ContainerPilot",
        ],
        rows,
    )
    common.emit("vs_cp_stop", text, {"results": results, "termed": termed})
    return text


# --- rss --------------------------------------------------------------------------------------


RSS_FLOORS = {
    "python3, asyncio imported": [common.PYTHON, "-c", "import asyncio, time; time.sleep(3600)"],
    "python3 -I -S": [common.PYTHON, "-I", "-S", "-c", "import time; time.sleep(3600)"],
}


def steady_rss(argv: list[str], directory: Path, settle: float, samples: int) -> float | None:
    """Median VmRSS (KiB) of `argv`'s process, `samples` samples 0.2 s apart after `settle`."""
    proc = common.spawn(argv, cwd=directory)
    try:
        time.sleep(settle)
        if proc.poll() is not None:
            return None
        values = []
        for _ in range(samples):
            values.append(common.rss_kib(proc.pid))
            time.sleep(0.2)
        return common.median(values)
    finally:
        common.stop(proc)


def section_rss(runs: int, settle: float) -> str:
    peers = [p for p in start_peers() if p != "direct"]
    with common.workdir("vs-rss") as directory:
        commands = {
            **RSS_FLOORS,
            **{peer: common.wrap(peer, configs.SLEEPER, directory) for peer in peers},
        }
        results = rounds(
            list(commands), runs, lambda c: steady_rss(commands[c], directory, settle, 5)
        )
    floor = next(iter(RSS_FLOORS))
    rows = [
        [
            name,
            len(column(results, name)),
            f"{common.median(column(results, name)) / 1024:.1f}",
            fmt_ratio(ratio(results, name, floor)),
            fmt_ratio(ratio(results, name, "containerpilot")) if cp_bin() else "",
        ]
        for name in commands
    ]
    text = common.table(["RSS, 1 job", "n", "MiB", "÷ asyncio floor", "÷ ContainerPilot"], rows)
    common.emit("vs_cp_rss", text, {"results": results})
    return text


# --- the realistic set-up ---------------------------------------------------------------------


def containerpilot_config(
    directory: Path,
    registry: common.Registry,
    jobs: int,
    watches: int,
    health_url: str,
    telemetry: bool = True,
) -> dict[str, Any]:
    """configs.full_pilot's set-up (no templates) in ContainerPilot's words: the checks are
    `curl` (ContainerPilot has exec checks only)."""
    entries: list[dict[str, Any]] = []
    for j in range(jobs):
        entries.append(
            {
                "name": f"job{j}",
                "exec": configs.SLEEPER,
                "port": 20000 + j,
                "interfaces": ["static:127.0.0.1"],
                "health": {
                    "exec": ["curl", "-sf", "-o", "/dev/null", health_url],
                    "interval": HEALTH_INTERVAL,
                    "ttl": 3 * HEALTH_INTERVAL,
                },
            }
        )
    config: dict[str, Any] = {
        "consul": registry.address,
        "stopTimeout": -1,
        "jobs": entries,
        "watches": [{"name": f"svc{w}", "interval": 1} for w in range(watches)],
    }
    if telemetry:
        config["telemetry"] = {"port": configs.free_port(), "interfaces": ["static:127.0.0.1"]}
    return config


def realistic_argv(
    peer: str, directory: Path, registry: common.Registry, url: str, checks_only: bool
) -> list[str]:
    """The realistic set-up under `peer`; `checks_only`: the 10 checks, no watches or
    telemetry (what a check costs, without ContainerPilot's polling)."""
    watches = 0 if checks_only else 10
    if peer == "pilot":
        config = configs.full_pilot(
            directory,
            registry,
            watches=watches,
            templates=0,
            telemetry=not checks_only,
            health_url=url,
        )
        for job in config["jobs"]:  # its own service names: the peers register side by side
            job["service"] = f"{directory.name}-{job['name']}"
        return configs.peer_argv("pilot", directory, 10, config)
    config = containerpilot_config(directory, registry, 10, watches, url, not checks_only)
    for job in config["jobs"]:
        job["name"] = f"{directory.name}-{job['name']}"
    return [cp_bin(), "-config", str(common.write_containerpilot_config(directory, config))]


CHECKS_ONLY = " (checks only)"


def main_thread_cpu(pid: int) -> float:
    """utime + stime of `pid`'s main thread (pilot's loop: its checks, bus and log)."""
    fields = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def section_realistic(runs: int, settle: float, seconds: float) -> str:
    peers = ["pilot", "containerpilot"] if cp_bin() else ["pilot"]
    peers += [peer + CHECKS_ONLY for peer in peers]
    health = configs.HealthServer()
    results: list[dict[str, dict[str, float]]] = []
    try:
        with registry() as reg:
            configs.populate(reg, 10)
            for _ in range(runs):
                with common.workdir("vs-realistic") as directory:
                    procs = {}
                    for n, peer in enumerate(peers):
                        where = directory / f"p{n}"
                        where.mkdir()
                        argv = realistic_argv(
                            peer.removesuffix(CHECKS_ONLY),
                            where,
                            reg,
                            health.url,
                            CHECKS_ONLY in peer,
                        )
                        procs[peer] = common.spawn(argv, cwd=where)
                    try:
                        time.sleep(settle)
                        before = {p: common.cpu_seconds(proc.pid) for p, proc in procs.items()}
                        main_before = {p: main_thread_cpu(proc.pid) for p, proc in procs.items()}
                        started = time.monotonic()
                        rss: dict[str, list[int]] = {p: [] for p in procs}
                        while time.monotonic() - started < seconds:
                            for peer, proc in procs.items():
                                rss[peer].append(common.rss_kib(proc.pid))
                            time.sleep(1)
                        elapsed = time.monotonic() - started
                        checks = 10 * elapsed / HEALTH_INTERVAL
                        round_ = {}
                        for peer, proc in procs.items():
                            used = common.cpu_seconds(proc.pid) - before[peer]
                            main = main_thread_cpu(proc.pid) - main_before[peer]
                            round_[peer] = {
                                "rss_kib": common.median(rss[peer]),
                                "cpu_percent": 100 * used / elapsed,
                                "cpu_per_check_ms": 1000 * used / checks,
                                "main_thread_per_check_ms": 1000 * main / checks,
                                "other_threads_per_check_ms": 1000 * (used - main) / checks,
                            }
                        results.append(round_)
                    finally:
                        for proc in procs.values():
                            common.stop(proc)
    finally:
        health.close()

    def med(peer: str, key: str) -> float:
        return common.median([r[peer][key] for r in results])

    def per_round(key: str, suffix: str = "") -> str:
        mine, theirs = "pilot" + suffix, "containerpilot" + suffix
        values = [r[mine][key] / r[theirs][key] for r in results if r[theirs][key] > 0]
        return fmt_ratio(common.median(values))

    rows = []
    for peer in peers:
        rows.append(
            [
                peer,
                len(results),
                f"{med(peer, 'rss_kib') / 1024:.1f}",
                f"{med(peer, 'cpu_percent'):.2f}",
                f"{med(peer, 'cpu_per_check_ms'):.2f}",
                f"{med(peer, 'main_thread_per_check_ms'):.2f}" if peer.startswith("pilot") else "",
                f"{med(peer, 'other_threads_per_check_ms'):.2f}"
                if peer.startswith("pilot")
                else "",
            ]
        )
    if cp_bin():
        for suffix in ("", CHECKS_ONLY):
            rows.append(
                [
                    "pilot ÷ ContainerPilot" + suffix,
                    "",
                    per_round("rss_kib", suffix),
                    per_round("cpu_percent", suffix),
                    per_round("cpu_per_check_ms", suffix),
                    "",
                    "",
                ]
            )
    text = common.table(
        [
            "realistic set-up",
            "rounds",
            "RSS MiB",
            "CPU % of a core",
            "CPU per check ms",
            "of which pilot's loop ms",
            "of which worker threads (TTL reports) ms",
        ],
        rows,
    )
    text += (
        f"\n\n({seconds:.0f} s windows after {settle:.0f} s, all peers at once; registry: "
        f"{registry_name()}; CPU per check = the supervisor's CPU over the window (its "
        "children, ContainerPilot's curl, not counted) ÷ the checks due in it; checks only: "
        "no watches, no telemetry)"
    )
    common.emit("vs_cp_realistic", text, {"results": results})
    return text


# --- exec → passing ----------------------------------------------------------------------------


def passing(reg: common.Registry, service: str) -> bool:
    with contextlib.suppress(OSError, ValueError):
        checks = reg.request("GET", f"/v1/health/checks/{service}") or []
        return any(check["Status"] == "passing" for check in checks)
    return False


def register_trial(
    peer: str, reg: common.Registry, url: str, directory: Path, counter: list[int]
) -> float | None:
    counter[0] += 1
    service = f"reg-{peer}-{counter[0]}"
    where = directory / str(counter[0])
    where.mkdir()
    if peer == "pilot":
        config = configs.full_pilot(where, reg, jobs=1, watches=0, templates=0, health_url=url)
        config["jobs"][0]["service"] = service
        config.pop("telemetry")
        argv = configs.peer_argv("pilot", where, 1, config)
    else:
        config = containerpilot_config(where, reg, 1, 0, url, telemetry=False)
        config["jobs"][0]["name"] = service
        argv = [cp_bin(), "-config", str(common.write_containerpilot_config(where, config))]
    started = time.monotonic()
    proc = common.spawn(argv, cwd=where)
    try:
        found = common.wait_for(lambda: passing(reg, service), 3 * HEALTH_INTERVAL, 0.005)
        seen = time.monotonic()
    finally:
        common.stop(proc)
    return seen - started if found else None


def section_register(runs: int) -> str:
    peers = ["pilot", "containerpilot"] if cp_bin() else ["pilot"]
    health = configs.HealthServer()
    try:
        with registry() as reg, common.workdir("vs-register") as directory:
            counter = [0]
            results = rounds(
                peers, runs, lambda p: register_trial(p, reg, health.url, directory, counter)
            )
    finally:
        health.close()
    rows = [
        [
            peer,
            len(column(results, peer)),
            common.ms(common.median(column(results, peer))),
            common.ms(max(column(results, peer), default=float("nan"))),
            fmt_ratio(ratio(results, peer, "containerpilot")) if cp_bin() else "",
        ]
        for peer in peers
    ]
    text = common.table(["exec → passing", "n", "median ms", "max ms", "÷ ContainerPilot"], rows)
    text += (
        f"\n\n(http check every {HEALTH_INTERVAL} s; ContainerPilot's runs `curl`; "
        f"registry: {registry_name()})"
    )
    common.emit("vs_cp_register", text, {"results": results})
    return text


# --- change → hook -----------------------------------------------------------------------------


HOOK = common.job("""
    import sys, time
    with open(sys.argv[1], "a") as f:
        f.write(f"{time.monotonic_ns()}\\n")
""")


def section_propagate(trials: int, gap: float) -> str:
    peers = ["pilot", "containerpilot"] if cp_bin() else ["pilot"]
    found: dict[str, list[float]] = {peer: [] for peer in peers}
    with registry() as reg, common.workdir("vs-propagate") as directory:
        reg.register("feed", "feed-0", 9000)
        procs = {}
        for peer in peers:
            stamp = directory / f"{peer}.hook"
            hook = {
                "name": "hook",
                "exec": [*HOOK, str(stamp)],
                "when": {"source": "watch.feed", "each": "changed"},
            }
            if peer == "pilot":
                main = {"name": "main", "exec": configs.SLEEPER, "main": True}
                config = {
                    "consul": reg.address,
                    "jobs": [main, hook],
                    "watches": [{"name": "feed", "service": "feed"}],
                }
                argv = [*common.pilot_argv(), "run", "-c"]
                argv.append(str(common.write_pilot_config(directory, config)))
            else:
                config = {
                    "consul": reg.address,
                    "jobs": [{"name": "main", "exec": configs.SLEEPER}, hook],
                    "watches": [{"name": "feed", "interval": 1}],
                }
                argv = [cp_bin(), "-config"]
                argv.append(str(common.write_containerpilot_config(directory, config)))
            procs[peer] = common.spawn(argv, cwd=directory)
        try:
            time.sleep(3)  # both have started and seen the first answer
            for trial in range(trials):
                seen = {peer: len(common.stamps(directory / f"{peer}.hook")) for peer in peers}
                sent = time.monotonic()
                if trial % 2 == 0:
                    reg.register("feed", "feed-1", 9001)
                else:
                    reg.request("PUT", "/v1/agent/service/deregister/feed-1")
                for peer in peers:
                    path = directory / f"{peer}.hook"
                    got = common.wait_for(lambda p=path, n=seen[peer]: common.stamps(p)[n:], 15)
                    if got:
                        found[peer].append(got[0] - sent)
                time.sleep(gap + random.random())
        finally:
            for proc in procs.values():
                common.stop(proc)
    rows = [
        [
            peer,
            len(found[peer]),
            common.ms(common.median(found[peer])),
            common.ms(common.percentile(found[peer], 90)),
        ]
        for peer in peers
    ]
    text = common.table(["change → hook ran", "n", "median ms", "p90 ms"], rows)
    text += (
        f"\n\n(an instance of `feed` registered / deregistered; pilot: blocking query; "
        f"ContainerPilot: `interval: 1`; registry: {registry_name()})"
    )
    common.emit("vs_cp_propagate", text, found)
    return text


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(prog="python -m bench.vs_containerpilot", description=__doc__)
    parser.add_argument("--runs", type=int, default=20, help="rounds of start, stop, register")
    parser.add_argument("--only", choices=SECTIONS, action="append", help="this section only")
    parser.add_argument("--rss-runs", type=int, default=5)
    parser.add_argument("--settle", type=float, default=3.0)
    parser.add_argument("--realistic-runs", type=int, default=3)
    parser.add_argument(
        "--realistic-settle", type=float, default=10.0, help="seconds before the window"
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="realistic window")
    parser.add_argument("--trials", type=int, default=20, help="propagation trials")
    args = parser.parse_args(argv)
    if not cp_bin():
        print("# CONTAINERPILOT_BIN not set: ContainerPilot's rows left out")
    print("# registry: " + registry_name())
    print("# " + json.dumps(common.machine()), flush=True)
    plan: dict[str, Callable[[], str]] = {
        "start": lambda: section_start(args.runs),
        "stop": lambda: section_stop(args.runs),
        "rss": lambda: section_rss(args.rss_runs, args.settle),
        "realistic": lambda: section_realistic(
            args.realistic_runs, args.realistic_settle, args.seconds
        ),
        "register": lambda: section_register(max(3, args.runs // 4)),
        "propagate": lambda: section_propagate(args.trials, 0.5),
    }
    for name in args.only or SECTIONS:
        print(f"## against ContainerPilot: {name}  (load {common.machine()['loadavg']})\n")
        plan[name]()
        print(flush=True)
    return {}


if __name__ == "__main__":
    main()
