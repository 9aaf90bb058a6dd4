"""A private network, mount and UTS namespace in which a corpus file runs with stand-ins for
its commands, as ContainerPilot 3.8.0 ran it (VERDICTS.md of the corpus): an `eth0` with
192.0.2.10/24, the host name `cpparity`, `consul` and `consul-server` on 127.0.0.1, the registry
on 127.0.0.1:8500, a /run of its own. Every program a job or a health check executes is
replaced by a stub: the command lines of long-running jobs sleep until SIGTERM, everything else
exits 0; each stub appends what happens to it (`start`, then `exit` or `stop` on SIGTERM) to the
order log, in the order it happened (tests/cpparity/order.py reads it).
Absolute paths get their stub through an overlay on /usr or /var (a path in neither is left
missing); bare names through a directory first on PATH; relative paths in the run directory.
Needs root, unshare, nsenter and ip."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HOSTNAME = "cpparity"
ADDRESS = "192.0.2.10"
MAC = "02:00:c0:00:02:0a"  # eth0's, so that its IPv6 link-local address is always the same
REGISTRY = "127.0.0.1:8500"
CONTROL = "/var/run/containerpilot.socket"  # a v3 file's control socket when it names none
OVERLAID = ("/usr", "/var")  # where an absolute path can get a stub
ENVIRON = {  # the environment of VERDICTS.md, which some files need to render
    "CONSUL": "consul",
    "CONSUL_AGENT": "",
    "PORT": "8080",
    "APP_PORT": "3000",
    "PUB_PORT": "8000",
    "TLS_VERIFY": "true",
    "CONSUL_URL": "consul",
    "LOG_LEVEL": "INFO",
}
STUB = """#!/bin/sh
# a stand-in: a long-running job's command line sleeps until SIGTERM, anything else succeeds;
# each appends "<seconds> start|exit|stop <its command line>" to the order log
line="${{0##*/}}"
[ $# -gt 0 ] && line="$line $*"
note() {{ echo "$({date} +%s.%N) $1 $line" >> {log}; }}
note start
while IFS= read -r long; do
  if [ "$long" = "$line" ]; then
    trap 'note stop; kill $! 2>/dev/null; trap - TERM; kill -TERM $$' TERM
    {sleep} 300 &
    wait
    exit 0
  fi
done < {long}
note exit
exit 0
"""


def available() -> str | None:
    """None when a sandbox can be made here, else why not."""
    if os.geteuid() != 0:
        return "the corpus sandbox needs root (unshare --net --mount --uts)"
    missing = [tool for tool in ("unshare", "nsenter", "ip") if shutil.which(tool) is None]
    return f"missing {', '.join(missing)}" if missing else None


def command_line(argv: list[str]) -> str:
    """How the stub sees a command: its program's base name, then its arguments."""
    return " ".join([argv[0].rsplit("/", 1)[-1], *argv[1:]])


def plan_stubs(raw: dict[str, Any]) -> dict[str, list[str]]:
    """The stubs of a rendered, parsed v3 config: the command lines that run for ever (an
    advertised job's, or one restarted without end and not periodic) and the programs."""
    long: list[str] = []
    programs: set[str] = set()
    for job in raw.get("jobs") or []:
        if not isinstance(job, dict):
            continue
        health = job.get("health") if isinstance(job.get("health"), dict) else {}
        for value, is_job in ((job.get("exec"), True), (health.get("exec"), False)):
            argv = value.split(" ") if isinstance(value, str) else value
            if not isinstance(argv, list) or not argv or not argv[0]:
                continue
            argv = [str(arg) for arg in argv]
            programs.add(argv[0])
            when = job.get("when") if isinstance(job.get("when"), dict) else {}
            forever = job.get("restarts") == "unlimited" and "interval" not in when
            if is_job and (job.get("port") or forever):
                long.append(command_line(argv))
    paths = sorted(p for p in programs if p.startswith("/"))
    return {
        "long_running": sorted(set(long)),
        "paths": [p for p in paths if _overlaid(p)],
        "missing": [p for p in paths if not _overlaid(p)],
        "names": sorted(p for p in programs if not p.startswith("/")),
    }


def _overlaid(path: str) -> bool:
    """Whether `path` (/bin is /usr/bin on this machine) is under an overlay."""
    return os.path.realpath(path).startswith(tuple(f"{top}/" for top in OVERLAID))


class Sandbox:
    """The namespaces, held by a sleeping process, with the stubs of `plan` in place."""

    def __init__(self, workdir: Path, plan: dict[str, list[str]]) -> None:
        self.workdir = workdir
        stubs = workdir / "stubs"
        (stubs / "bin").mkdir(parents=True)
        for tool in ("sleep", "date"):  # a file may stub either name
            shutil.copy(shutil.which(tool) or f"/bin/{tool}", stubs / tool)
        (stubs / "long").write_text("".join(f"{line}\n" for line in plan["long_running"]))
        self.order_log = stubs / "order.log"
        stub = stubs / "stub"
        stub.write_text(
            STUB.format(sleep=stubs / "sleep", date=stubs / "date", long=stubs / "long",
                        log=self.order_log)
        )  # fmt: skip
        stub.chmod(0o755)
        for name in plan["names"]:
            target = workdir / name if "/" in name else stubs / "bin" / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(stub, target)
        hosts = f"127.0.0.1 localhost consul consul-server\n{ADDRESS} {HOSTNAME}\n"
        (workdir / "hosts").write_text(hosts)
        (workdir / "ovl").mkdir()
        setup = [
            "set -e",
            "mount --make-rprivate /",
            "ip link set lo up",
            f"ip link add eth0 address {MAC} type veth peer name peer0",  # a fixed fe80::
            f"ip addr add {ADDRESS}/24 dev eth0",
            "ip link set eth0 up",
            "ip link set peer0 up",
            f"hostname {HOSTNAME}",
            f"mount --bind {workdir}/hosts /etc/hosts",
            "mount -t tmpfs tmpfs /run",  # the control socket, /var/run/containerpilot.socket
            f"mount -t tmpfs tmpfs {workdir}/ovl",
        ]
        for i, top in enumerate(OVERLAID):
            if any(os.path.realpath(path).startswith(f"{top}/") for path in plan["paths"]):
                up, work = f"{workdir}/ovl/u{i}", f"{workdir}/ovl/w{i}"
                setup.append(f"mkdir {up} {work}")
                options = f"lowerdir={top},upperdir={up},workdir={work}"
                setup.append(f"mount -t overlay overlay -o {options} {top}")
        for path in map(os.path.realpath, plan["paths"]):
            setup.append(f"mkdir -p {os.path.dirname(path)} && cp {stub} {path}")
        setup.append(f"touch {workdir}/ready")
        setup.append(f"exec {stubs}/sleep 100000")
        self.holder = subprocess.Popen(
            ["unshare", "--net", "--mount", "--uts", "sh", "-c", "\n".join(setup)],
            stdin=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 20
        while not (workdir / "ready").exists():
            if self.holder.poll() is not None or time.monotonic() > deadline:
                stderr = self.holder.stderr.read() if self.holder.stderr else ""
                self.close()
                raise RuntimeError(f"the sandbox did not start: {stderr}")
            time.sleep(0.05)
        self.path = f"{stubs / 'bin'}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    def enter(self, *, net_only: bool = False) -> list[str]:
        """The command prefix that runs a program inside."""
        # Entering a mount namespace moves to its root: --wd keeps the run directory.
        spaces = ["--net"] if net_only else ["--net", "--mount", "--uts", f"--wd={self.workdir}"]
        return ["nsenter", "-t", str(self.holder.pid), *spaces, "--"]

    def environ(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The environment of a run: VERDICTS.md's, the stubs first on PATH."""
        return {**os.environ, **ENVIRON, "PATH": self.path, **(extra or {})}

    def get(self, path: str) -> Any:
        """A GET on the registry inside, as JSON (None when it does not answer)."""
        script = (
            "import sys, urllib.request\n"
            f"sys.stdout.write(urllib.request.urlopen('http://{REGISTRY}' + sys.argv[1],"
            " timeout=5).read().decode())"
        )
        result = subprocess.run(
            [*self.enter(net_only=True), sys.executable, "-c", script, path],
            capture_output=True,
            text=True,
            timeout=30,
        )
        return json.loads(result.stdout) if result.returncode == 0 else None

    def control(self, path: str, socket: str = CONTROL) -> Any:
        """A GET on the control socket inside (pilot's own API), as JSON (None when nothing
        answers)."""
        script = (
            "import http.client, socket, sys\n"
            "class Unix(http.client.HTTPConnection):\n"
            "    def connect(self):\n"
            "        self.sock = socket.socket(socket.AF_UNIX)\n"
            "        self.sock.connect(sys.argv[2])\n"
            "c = Unix('localhost', timeout=5)\n"
            "c.request('GET', sys.argv[1])\n"
            "sys.stdout.write(c.getresponse().read().decode())"
        )
        result = subprocess.run(
            [*self.enter(), sys.executable, "-c", script, path, socket],
            capture_output=True,
            text=True,
            timeout=30,
        )
        return json.loads(result.stdout) if result.returncode == 0 else None

    def close(self) -> None:
        """Kill every process left inside (a job of a run that failed), then the holder: the
        namespaces go with the last process in them."""
        if self.holder.poll() is None:
            for pid in self._inside():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.holder.send_signal(signal.SIGKILL)
        self.holder.wait(10)
        if self.holder.stderr is not None:
            self.holder.stderr.close()

    def _inside(self) -> list[int]:
        """The processes in the sandbox's mount namespace, but the holder."""
        try:
            ours = os.readlink(f"/proc/{self.holder.pid}/ns/mnt")
        except OSError:
            return []
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) != self.holder.pid:
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{entry}/ns/mnt") == ours:
                        found.append(int(entry))
        return found

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
