"""Record what the real ContainerPilot does, as committed test data. It only runs a binary given
by the environment; it builds nothing:

    CONTAINERPILOT=/path/to/containerpilot python3 -m tests.cpparity.record ending

writes tests/data/containerpilot_parity/ending.json (each scenario of tests/cpparity/ending.py:
does it end by itself, its exit code, how many times each job ran);

    CONTAINERPILOT=... CONSUL=/path/to/consul python3 -m tests.cpparity.record registration

runs every corpus file ContainerPilot loads (VERDICTS.md) that advertises a service, each in a
sandbox of its own (tests/cpparity/sandbox.py) with a Consul dev agent, and writes what it
registered to tests/data/containerpilot_parity/corpus_registration.json;

    CONTAINERPILOT=... CONSUL=... python3 -m tests.cpparity.record order

runs every corpus file ContainerPilot loads, the same way, until its jobs have settled, sends it
SIGTERM, and writes the order in which its jobs started and stopped (tests/cpparity/order.py)
to tests/data/containerpilot_parity/corpus_order.json.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
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

from tests.cpparity import order, sandbox
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


CORPUS = Path(os.environ.get("PILOT_CP_CORPUS", "/work/shared/corpus/containerpilot"))
SETTLE = 60.0  # seconds to wait for every advertised service to be registered and passing
ACCEPTED = [  # what pilot registers differently on purpose (docs/migrating.md)
    {"field": "checks.*.Name", "containerpilot": "Service '<name>' check",
     "pilot": "<name> health (pilot)", "why": "says who keeps the check"},
    {"field": "checks.*.Notes", "containerpilot": "TTL for <name> set by containerpilot",
     "pilot": "", "why": "pilot adds no notes"},
    {"field": "checks.*.Output", "containerpilot": "ok",
     "pilot": "the health command's output", "why": "more useful"},
    {"field": "services.containerpilot.Tags", "containerpilot": "its tags, then 3.8.0",
     "pilot": "its tags", "why": "pilot is not ContainerPilot 3.8.0"},
    {"field": "services.<a job whose program is missing>",
     "containerpilot": "registered, passing while its health command passes",
     "pilot": "not registered", "why": "pilot advertises a job only while it can run"},
]  # fmt: skip


def advertising_files() -> list[str]:
    """The v3 files ContainerPilot loads (VERDICTS.md) that advertise a service."""
    from pilot.config.containerpilot.detect import parse_rendered

    verdicts = (CORPUS / "VERDICTS.md").read_text()
    loaded = [line.split("`")[1] for line in verdicts.splitlines() if "| loaded |" in line]
    chosen = []
    for name in loaded:
        raw = parse_rendered((CORPUS / "v3" / name).read_text(), sandbox.ENVIRON, name)
        jobs = [job for job in raw.get("jobs") or [] if isinstance(job, dict)]
        if raw.get("telemetry") or any(job.get("port") for job in jobs):
            chosen.append(name)
    return chosen


def expected_services(raw: dict[str, Any]) -> set[str]:
    jobs = [job for job in raw.get("jobs") or [] if isinstance(job, dict)]
    names = {str(job["name"]) for job in jobs if job.get("port")}
    return names | ({"containerpilot"} if raw.get("telemetry") else set())


def settled(box: sandbox.Sandbox, names: set[str]) -> bool:
    return settled_from(box.get("/v1/agent/services"), box.get("/v1/agent/checks"), names)


def normalised(value: Any) -> Any:
    return json.loads(json.dumps(value).replace(sandbox.HOSTNAME, "{hostname}"))


def start_consul(box: sandbox.Sandbox, consul: str) -> subprocess.Popen[bytes]:
    argv = [*box.enter(), consul, "agent", "-dev", "-client", "127.0.0.1", "-bind", "127.0.0.1"]
    argv += ["-http-port", "8500", "-dns-port", "-1", "-grpc-port", "-1", "-log-level", "warn"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not box.get("/v1/status/leader"):
        if time.monotonic() > deadline:
            raise RuntimeError("consul did not start")
        time.sleep(0.2)
    return proc


def record_file(path: str, consul: str, name: str) -> dict[str, Any]:
    from pilot.config.containerpilot.detect import parse_rendered

    text = (CORPUS / "v3" / name).read_text()
    raw = parse_rendered(text, sandbox.ENVIRON, name)
    plan = sandbox.plan_stubs(raw)
    names = expected_services(raw)
    with tempfile.TemporaryDirectory() as tmp, sandbox.Sandbox(Path(tmp), plan) as box:
        config = Path(tmp, "containerpilot.json5")
        config.write_text(text)
        registry = start_consul(box, consul)
        with open(Path(tmp, "cp.log"), "wb") as log:
            proc = subprocess.Popen(
                [*box.enter(), path, "-config", str(config)], cwd=tmp, env=box.environ(),
                stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        started = time.monotonic()
        while not settled(box, names) and time.monotonic() - started < SETTLE:
            time.sleep(0.5)
        took = time.monotonic() - started
        services = box.get("/v1/agent/services")
        checks = box.get("/v1/agent/checks")
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
        after = sorted(box.get("/v1/agent/services") or {})
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # a stub ContainerPilot left behind
        registry.terminate()
        registry.wait(30)
    print(f"{name}: {sorted(names)} in {took:.1f}s, exit {code}", file=sys.stderr)
    return normalised({
        "file": name, "stubs": plan, "advertised": sorted(names),
        "all_passing": settled_from(services, checks, names),
        "services": services, "checks": checks, "after_stop": after,
    })  # fmt: skip


def settled_from(services: Any, checks: Any, names: set[str]) -> bool:
    registered = {service["Service"] for service in (services or {}).values()}
    passing = {c["ServiceName"] for c in (checks or {}).values() if c["Status"] == "passing"}
    return names <= registered and names <= passing


def consul_in_sandbox(what: str) -> str:
    """The consul binary named by CONSUL, once the sandbox can run; else exit saying why."""
    consul = os.environ.get("CONSUL")
    if not consul:
        sys.exit(f"set CONSUL to the consul binary {what}")
    reason = sandbox.available()
    if reason:
        sys.exit(reason)
    return consul


def record_registration(path: str) -> dict[str, Any]:
    consul = consul_in_sandbox("the registrations are made in")
    consul_version = subprocess.run(
        [consul, "version"], capture_output=True, text=True, check=True
    ).stdout.splitlines()[0]
    return {
        "containerpilot": version(path),
        "consul": f"{consul_version} (agent -dev on 127.0.0.1:8500 in the sandbox)",
        "recorded": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d"),
        "how": "each file (as containerpilot.json5) run by `containerpilot -config` in the "
        "sandbox of tests/cpparity/sandbox.py (host name {hostname}, eth0 192.0.2.10/24, "
        "VERDICTS.md's environment, stubs in place of its commands), until every advertised "
        f"service was registered with a passing check (at most {SETTLE:g} s); then "
        "/v1/agent/services and /v1/agent/checks were read, it was sent SIGTERM and the "
        "services read again",
        "accepted_differences": ACCEPTED,
        "files": [record_file(path, consul, name) for name in advertising_files()],
    }


QUIET = 3.0  # seconds without a new event, beyond the longest wait a `when` chain may have
ORDER_RUNS = 2  # runs of each file: jobs that have no order may show it


def loaded_files() -> list[str]:
    verdicts = (CORPUS / "VERDICTS.md").read_text()
    return [line.split("`")[1] for line in verdicts.splitlines() if "| loaded |" in line]


def quiet_for(raw: dict[str, Any]) -> float:
    """How long a run must show no new event before its jobs count as settled: one health
    interval of a job others wait to be healthy (or watch), one watch interval, and QUIET."""
    jobs = order.jobs_of(raw)
    whens = [order.when_of(job) for job in jobs]
    sources = {str(when.get("source") or "") for when in whens}
    watched = {source[6:] for source in sources if source.startswith("watch.")}
    health = [
        float(job["health"].get("interval") or 0)
        for job in jobs
        if isinstance(job.get("health"), dict) and ({job.get("name")} & (sources | watched))
    ]
    watches = [
        float(watch.get("interval") or 0)
        for watch in raw.get("watches") or []
        if isinstance(watch, dict) and f"watch.{watch.get('name')}" in sources
    ]
    return QUIET + max(health, default=0.0) + max(watches, default=0.0)


def order_run(path: str, consul: str, name: str, raw: dict[str, Any]) -> dict[str, Any]:
    text = (CORPUS / "v3" / name).read_text()
    quiet = quiet_for(raw)
    with tempfile.TemporaryDirectory() as tmp, sandbox.Sandbox(Path(tmp), sandbox.plan_stubs(
            raw)) as box:  # fmt: skip
        config = Path(tmp, "containerpilot.json5")
        config.write_text(text)
        registry = start_consul(box, consul)
        begun = time.time()
        proc = subprocess.Popen(
            [*box.enter(), path, "-config", str(config)], cwd=tmp, env=box.environ(),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        log = box.order_log
        seen, changed = 0, time.monotonic()
        while proc.poll() is None and time.monotonic() - changed < quiet:
            time.sleep(0.2)
            now = len(order.phases(log.read_text() if log.exists() else "", raw)[0])
            if now != seen:
                seen, changed = now, time.monotonic()
        ended = proc.poll() is not None
        if not ended:
            with open(log, "a") as out:
                out.write(f"{time.time():.9f} {order.SIGTERM} -\n")
            proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
        text = log.read_text() if log.exists() else ""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        registry.terminate()
        registry.wait(30)
    before, after = order.timed_phases(text, raw)
    return {"ended_by_itself": ended, "exit": code,
            "before_sigterm": [[event, round(at - begun, 3)] for event, at in before],
            "after_sigterm": [[event, round(at - begun, 3)] for event, at in after]}  # fmt: skip


def record_order_file(path: str, consul: str, name: str) -> dict[str, Any]:
    from pilot.config.containerpilot.detect import parse_rendered

    raw = parse_rendered((CORPUS / "v3" / name).read_text(), sandbox.ENVIRON, name)
    runs = [order_run(path, consul, name, raw) for _ in range(ORDER_RUNS)]
    entry: dict[str, Any] = {"file": name, "stubs": sandbox.plan_stubs(raw),
                             "ended_by_itself": runs[0]["ended_by_itself"]}  # fmt: skip
    for phase, after in (("before_sigterm", False), ("after_sigterm", True)):
        events = [event for event, _ in runs[0][phase]]
        for run in runs[1:]:
            if sorted(event for event, _ in run[phase]) != sorted(events):
                raise RuntimeError(f"{name}: runs differ {phase}: {runs}")
        edges = order.edges(raw, events, after)
        for run in runs:
            wrong = order.broken(edges, [event for event, _ in run[phase]])
            if wrong:
                raise RuntimeError(f"{name}: ContainerPilot broke {wrong} {phase}: {run}")
        entry[phase] = {"events": sorted(events), "order": edges,
                        "unordered": order.together(raw, events, after)}  # fmt: skip
    entry["runs"] = runs
    print(f"{name}: {entry['before_sigterm']} {entry['after_sigterm']}", file=sys.stderr)
    return entry


def record_order(path: str) -> dict[str, Any]:
    consul = consul_in_sandbox("the jobs register in")
    return {
        "containerpilot": version(path),
        "recorded": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d"),
        "how": "each file ContainerPilot loads (VERDICTS.md) run as for corpus_registration.json "
        f"({ORDER_RUNS} runs), until no new event came for {QUIET:g} s plus the longest health "
        "interval of a job others wait for and the longest watch interval they wait on; then "
        "sent SIGTERM (unless it had ended by itself) and waited for. Each stub logged its "
        "start, its exit, or its SIGTERM; an event is the first of its kind in its phase. "
        "`order`: the pairs [a, b] ContainerPilot puts a before b (tests/cpparity/order.py), "
        "kept in every run; `unordered`: jobs one event starts (or one SIGTERM stops) at once; "
        "`runs`: what each run showed, with seconds since it started",
        "files": [record_order_file(path, consul, name) for name in loaded_files()],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["ending", "registration", "order"])
    args = parser.parse_args(argv)
    path = binary()
    if args.what == "ending":
        data, out = record_ending(path), DATA / "ending.json"
    elif args.what == "registration":
        data, out = record_registration(path), DATA / "corpus_registration.json"
    else:
        data, out = record_order(path), DATA / "corpus_order.json"
    out.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
