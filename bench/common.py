"""What every figure shares: the machine, the peers, precise waits, statistics, tables."""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import platform
import random
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
# A job program: this Python without site (no .pth files, no user site): ~10 ms to start, the
# same for every peer, so that the supervisor's own cost is what differs.
JOB_PYTHON = [PYTHON, "-I", "-S", "-c"]
PEER_PACKAGES = {"tini": "tini", "dumb-init": "dumb-init", "supervisord": "supervisor"}
APT_LINE = "apt-get install -y tini dumb-init supervisor hyperfine nginx-light"


# Like an installed pilot (pip compiles .pyc files): bytecode is cached, here in a private
# directory, even when the shell says PYTHONDONTWRITEBYTECODE (as this dev checkout's does).
PYCACHE = Path(tempfile.gettempdir()) / "pilot-bench-pycache"
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
ENV["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
ENV.pop("PYTHONUNBUFFERED", None)
# The checkout being benchmarked, not whichever one the editable install points at (the console
# script finds pilot through site-packages' path entry, which may be another worktree).
ENV["PYTHONPATH"] = str(REPO)


# Another checkout of pilot (PILOT_BASELINE, say a `git worktree` of the commit before a
# change): its peers pilot-base and pilot---base run in the same rounds as this one's.
BASELINE = os.environ.get("PILOT_BASELINE", "")


def pilot_argv(checkout: str = "") -> list[str]:
    """How a container runs pilot: a console script as pip writes it (the one installed may
    belong to another checkout, so this checkout's entry point gets a script of its own; with
    `checkout`, that checkout's pilot, put first on the path)."""
    match = re.search(r'^pilot = "([\w.]+):(\w+)"', (REPO / "pyproject.toml").read_text(), re.M)
    assert match, "pyproject.toml has no pilot script"
    script = PYCACHE / "bin" / ("pilot-base" if checkout else "pilot")
    first = f"sys.path.insert(0, {checkout!r})\n" if checkout else ""
    text = (
        f"#!{PYTHON}\n# -*- coding: utf-8 -*-\nimport re\nimport sys\n{first}"
        f"from {match[1]} import {match[2]}\n"
        "if __name__ == '__main__':\n"
        "    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n"
        f"    sys.exit({match[2]}())\n"
    )
    if not script.exists() or script.read_text() != text:
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text(text)
        script.chmod(0o755)
    return [str(script)]


# pilot as it was before `pilot run` left with os._exit (pilot/cli.py, _exit_now): the same code,
# but the exit goes through sys.exit and the interpreter's finalisation. bench.stop and
# bench.profile run it with --finalise, to show what that change is worth.
PILOT_FINALISING = [
    PYTHON,
    "-c",
    "import sys; import pilot.cli.pilot as cli; "
    "cli._exit_now = lambda code: sys.exit(code); sys.exit(cli.main())",
]


def job(code: str) -> list[str]:
    """argv of a job running `code` (dedented) in a site-less Python."""
    return [*JOB_PYTHON, textwrap.dedent(code)]


def machine() -> dict[str, str]:
    """The facts BENCHMARKS.md records next to every figure."""
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
    }


def missing_peers(names: Sequence[str]) -> list[str]:
    """Peers whose binary is absent (and say how to install them)."""
    absent = [name for name in names if name in PEER_PACKAGES and not shutil.which(name)]
    if absent:
        packages = " ".join(PEER_PACKAGES[name] for name in absent)
        print(f"# skipping {', '.join(absent)}: apt-get install -y {packages}", file=sys.stderr)
    return absent


# --- statistics ------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def alternate(
    peers: Sequence[str], runs: int, trial: Callable[[str], float | None]
) -> dict[str, list[float]]:
    """Run `trial(peer)` `runs` times per peer, the peers interleaved in a fresh random order
    each round (so that drifting noise hits them all alike). None results are dropped."""
    results: dict[str, list[float]] = {peer: [] for peer in peers}
    for _ in range(runs):
        order = list(peers)
        random.shuffle(order)
        for peer in order:
            value = trial(peer)
            if value is not None:
                results[peer].append(value)
    return results


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def emit(name: str, text: str, data: dict[str, Any]) -> None:
    """Print a figure's table and keep its raw numbers in bench/results/<name>.json."""
    print(text, flush=True)
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    payload = {"machine": machine(), "argv": sys.argv, **data}
    (out / f"{name}.json").write_text(json.dumps(payload, indent=1) + "\n")


# --- processes -------------------------------------------------------------------------------


def spawn(argv: Sequence[str], cwd: Path | None = None, **kwargs: Any) -> subprocess.Popen[bytes]:
    """Start a process in its own session, output discarded unless given."""
    kwargs.setdefault("stdout", subprocess.DEVNULL)
    kwargs.setdefault("stderr", subprocess.DEVNULL)
    kwargs.setdefault("env", ENV)
    return subprocess.Popen(
        list(argv), cwd=cwd, stdin=subprocess.DEVNULL, start_new_session=True, **kwargs
    )


def wait_exit(proc: subprocess.Popen[bytes], timeout: float) -> float | None:
    """Block until `proc` exits (a pidfd, no polling); the monotonic time it was seen to exit,
    or None (and it is killed) past `timeout`."""
    fd = os.pidfd_open(proc.pid)
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
    finally:
        os.close(fd)
    seen = time.monotonic()
    if not ready:
        kill_group(proc)
        return None
    proc.wait()
    return seen


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process's whole session group and collect it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)


def stop(proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """SIGTERM, then SIGKILL the group if it is still there after `timeout`."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        if wait_exit(proc, timeout) is None:
            return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def wait_for(predicate: Callable[[], Any], timeout: float, interval: float = 0.001) -> Any:
    """Poll `predicate` until truthy; None past `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            return None
        time.sleep(interval)


def stamps(path: Path) -> list[float]:
    """The monotonic timestamps (ns, one per line) a job appended to `path`, in seconds."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    return [int(line) / 1e9 for line in text.split("\n")[:-1]]  # the last line may be partial


def rss_kib(pid: int) -> int:
    """Resident set size of `pid` in KiB (VmRSS)."""
    match = re.search(r"^VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text(), re.M)
    return int(match.group(1)) if match else 0


def settled(pid: int, quiet: float = 0.1, timeout: float = 10.0) -> bool:
    """Wait until `pid` has used no CPU for `quiet` seconds (it has finished starting: `pilot
    --` starts its command first and the rest of itself after); False past `timeout`."""
    deadline = time.monotonic() + timeout
    before = cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = cpu_seconds(pid)
        if now == before:
            return True
        before = now
    return False


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` (its threads included, its children not)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """Direct children of `pid` (every thread's)."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                found += [int(p) for p in (task / "children").read_text().split()]
    return found


@contextlib.contextmanager
def workdir(name: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as path:
        yield Path(path)


# --- peers: wrap one job's argv the way each supervisor runs it ------------------------------


def write_pilot_config(directory: Path, config: dict[str, Any], name: str = "pilot") -> Path:
    config = {"control": {"socket": str(directory / f"{name}.sock")}, **config}
    path = directory / f"{name}.json5"
    path.write_text(json.dumps(config, indent=1))
    return path


def containerpilot_bin() -> str:
    """Real ContainerPilot 3.8 (Go), from CONTAINERPILOT_BIN; "" when not given."""
    return os.environ.get("CONTAINERPILOT_BIN", "")


def write_containerpilot_config(directory: Path, config: dict[str, Any]) -> Path:
    """A ContainerPilot v3 config with its control socket in `directory` (JSON is JSON5)."""
    config = {"control": {"socket": str(directory / "containerpilot.sock")}, **config}
    path = directory / "containerpilot.json5"
    path.write_text(json.dumps(config, indent=1))
    return path


def supervisord_conf(directory: Path, programs: dict[str, Sequence[str]]) -> Path:
    """A supervisord.conf running each program at once, output discarded, prompt stop."""
    lines = [
        "[supervisord]",
        "nodaemon=true",
        "user=root",
        f"logfile={directory / 'supervisord.log'}",
        "loglevel=warn",
        f"pidfile={directory / 'supervisord.pid'}",
        "",
    ]
    for name, argv in programs.items():
        if list(argv[: len(JOB_PYTHON)]) == JOB_PYTHON:  # ini values cannot hold newlines
            script = directory / f"{name}.py"
            script.write_text(argv[len(JOB_PYTHON)])
            argv = [*JOB_PYTHON[:-1], str(script), *argv[len(JOB_PYTHON) + 1 :]]
        command = " ".join(_supervisor_quote(arg) for arg in argv)
        lines += [
            f"[program:{name}]",
            f"command={command}",
            "autostart=true",
            "startsecs=0",
            "autorestart=false",
            "stopwaitsecs=10",
            "stopasgroup=true",
            "stdout_logfile=NONE",
            "stderr_logfile=NONE",
            "",
        ]
    path = directory / "supervisord.conf"
    path.write_text("\n".join(lines))
    return path


def _supervisor_quote(arg: str) -> str:
    # supervisord splits `command` with shlex and expands %(...)s: escape both.
    return "'" + arg.replace("%", "%%").replace("'", "'\"'\"'") + "'"


# Peers that supervise nothing: the job itself, started as pilot's Python starts (with `site`)
# and with what pilot cannot do without imported first. What a Python supervisor cannot go
# under: "python3" is the interpreter's own start, "python3+asyncio" its exit once asyncio is
# loaded (the kernel tears down its memory).
YARDSTICKS = {"python3": "", "python3+asyncio": "import asyncio\n"}


def wrap(peer: str, argv: Sequence[str], directory: Path, **pilot_job: Any) -> list[str]:
    """argv that runs job `argv` under `peer` (direct, tini, dumb-init, pilot (`pilot run` of a
    one-job config), pilot-- (`pilot -- ARGV`), pilot-base and pilot---base (the same with
    BASELINE's pilot), containerpilot (CONTAINERPILOT_BIN, with `stopTimeout: -1`),
    supervisord, and pilot-finalising: see PILOT_FINALISING), or as one of the YARDSTICKS (a
    job of JOB_PYTHON's only)."""
    if peer == "direct":
        return list(argv)
    if peer in YARDSTICKS:  # no supervisor: the job's own code, run by a heavier Python
        assert list(argv[: len(JOB_PYTHON)]) == JOB_PYTHON, "a yardstick runs a Python job"
        code, *rest = argv[len(JOB_PYTHON) :]
        return [PYTHON, "-c", YARDSTICKS[peer] + textwrap.dedent(code), *rest]
    if peer == "tini":
        return ["tini", "-s", "--", *argv]
    if peer == "dumb-init":
        return ["dumb-init", *argv]
    if peer in ("pilot--", "pilot---base"):
        return [*pilot_argv(BASELINE if peer.endswith("base") else ""), "--", *argv]
    if peer == "containerpilot":
        config = {
            "consul": "127.0.0.1:1",
            "stopTimeout": -1,
            "jobs": [{"name": "job", "exec": list(argv)}],
        }
        return [
            containerpilot_bin(),
            "-config",
            str(write_containerpilot_config(directory, config)),
        ]
    if peer in ("pilot", "pilot-base", "pilot-finalising"):
        config = {"jobs": [{"name": "job", "exec": list(argv), **pilot_job}]}
        command = {
            "pilot": pilot_argv(),
            "pilot-base": pilot_argv(BASELINE),
            "pilot-finalising": PILOT_FINALISING,
        }[peer]
        return [*command, "run", "-c", str(write_pilot_config(directory, config, peer))]
    if peer == "supervisord":
        return ["supervisord", "-n", "-c", str(supervisord_conf(directory, {"job": argv}))]
    raise ValueError(peer)


# --- the registry ---------------------------------------------------------------------------


class Registry:
    """`pilot consul-dev` on a free loopback port, with tiny urllib helpers."""

    def __init__(self) -> None:
        argv = [*pilot_argv(), "consul-dev", "--listen", "127.0.0.1:0", "--dns", "off"]
        self.proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=ENV,
        )
        assert self.proc.stdout is not None
        self.address = self.proc.stdout.readline().decode().strip()
        assert re.fullmatch(r"[\d.]+:\d+", self.address), self.address

    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"http://{self.address}{path}", data=data, method=method)
        with urllib.request.urlopen(req, timeout=30) as response:
            raw = response.read()
        return json.loads(raw) if raw.strip() else None

    def register(self, service: str, sid: str, port: int, ttl: bool = False) -> None:
        body: dict[str, Any] = {"Name": service, "ID": sid, "Address": "127.0.0.1", "Port": port}
        if ttl:
            body["Check"] = {"CheckID": f"{sid}-ttl", "TTL": "10m", "Status": "critical"}
        self.request("PUT", "/v1/agent/service/register", body)

    def close(self) -> None:
        stop(self.proc, 5)  # type: ignore[arg-type]


@contextlib.contextmanager
def registry() -> Iterator[Registry]:
    reg = Registry()
    try:
        yield reg
    finally:
        reg.close()


# A job that appends CLOCK_MONOTONIC (ns) to argv[1] for every SIGHUP, and to argv[1].term when
# SIGTERM arrives, then exits at once; argv[1].ready tells it has its handlers.
SIGNAL_STAMP = job("""
    import os, signal, sys, time
    path = sys.argv[1]
    def hup(signum, frame):
        with open(path, "a") as f:
            f.write(f"{time.monotonic_ns()}\\n")
    def term(signum, frame):
        with open(path + ".term", "a") as f:
            f.write(f"{time.monotonic_ns()}\\n")
        os._exit(0)
    signal.signal(signal.SIGHUP, hup)
    signal.signal(signal.SIGTERM, term)
    open(path + ".ready", "w").close()
    while True:
        signal.pause()
""")
