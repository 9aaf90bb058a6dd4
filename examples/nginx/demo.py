"""The whole idea in one run, on one machine, with no Consul installed:

nginx under pilot (which also serves the embedded registry), backends that come and go, the
upstream re-rendered and nginx reloaded live (same master pid), then a clean stop.

    sudo .venv/bin/python examples/nginx/demo.py   # root: nginx's workers run as root here

(from a checkout with pilot installed in .venv; the Python that runs this runs every pilot).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
PILOT = [sys.executable, "-m", "pilot"]
REGISTRY, NGINX_PORT = "127.0.0.1:18500", 18080


def say(text: str) -> None:
    print(f"\n\033[1m==> {text}\033[0m" if sys.stdout.isatty() else f"\n==> {text}", flush=True)


def get(path: str = "/") -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{NGINX_PORT}{path}", timeout=2) as answer:
            return answer.read().decode().strip()
    except urllib.error.HTTPError as error:
        return f"HTTP {error.code}"
    except OSError as error:
        return f"no answer ({error})"


def wait_until(predicate, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def main() -> int:
    if shutil.which("nginx") is None:
        sys.exit("nginx is not installed: apt-get install nginx-light")
    state = Path(tempfile.mkdtemp(prefix="pilot-demo-"))
    prefix = state / "nginx"
    prefix.mkdir()
    shutil.copy(HERE / "nginx.conf", prefix / "nginx.conf")
    env = {
        **os.environ,
        "CONSUL": REGISTRY,
        "NGINX_PREFIX": str(prefix),
        "PILOT_UPSTREAMS": "backend",
        "NGINX_PORT": str(NGINX_PORT),
        "NGINX_LISTEN": f"127.0.0.1:{NGINX_PORT}",
        "NGINX_INTERFACE": "static:127.0.0.1",
        "TELEMETRY_PORT": "19090",
        "NGINX_EXAMPLE": str(HERE),
        "PILOT_BIN": " ".join(PILOT),
    }
    config = state / "nginx.json5"  # the example's config, serving the embedded registry
    config.write_text(
        (HERE / "pilot.json5")
        .read_text()
        .replace(
            'consul: "${CONSUL:-127.0.0.1:8500}"',
            f'consul: {{address: "embedded", listen: "{REGISTRY}"}}',
        )
    )
    log = open(state / "nginx-pilot.log", "w")  # noqa: SIM115 - kept open for the child
    say(f"starting nginx under pilot (log: {log.name})")
    nginx = subprocess.Popen(
        [*PILOT, "run", "-c", str(config)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # Ctrl-C reaches only this script, which stops each pilot once
    )
    backends: dict[str, subprocess.Popen[bytes]] = {}
    signalled: set[str] = set()

    def stop(name: str) -> None:
        """SIGTERM once: a second one makes pilot skip the drain and SIGKILL its jobs."""
        if name not in signalled and backends[name].poll() is None:
            backends[name].send_signal(signal.SIGTERM)
        signalled.add(name)

    try:
        wait_until(lambda: (prefix / "nginx.pid").exists())
        master = (prefix / "nginx.pid").read_text().strip()
        say(f"no backend yet: nginx answers {get()!r} (its master pid is {master})")
        for n in (1, 2, 3):
            name = f"backend-{n}"
            say(f"starting {name} (its own pilot registers it in the registry)")
            backends[name] = start_backend(state, env, n)
            wait_until(lambda name=name: name in {get() for _ in range(6)})
            answers = sorted({get() for _ in range(12)})
            print(f"    requests through nginx reach: {', '.join(answers)}")
        print(f"\n    site.conf now has:\n{upstream(prefix)}")
        say("stopping backend-2 with SIGTERM: it leaves Consul, drains, then stops")
        stop("backend-2")
        wait_until(lambda: "backend-2" not in {get() for _ in range(12)})
        print(f"    requests now reach: {', '.join(sorted({get() for _ in range(12)}))}")
        say("stopping the other backends")
        for name in backends:
            stop(name)
        wait_until(lambda: get() == "HTTP 503")
        print(
            f"    nginx answers {get()!r}; it never stopped: master pid "
            f"{(prefix / 'nginx.pid').read_text().strip()} (was {master})"
        )
        say("stopping nginx: SIGTERM to its pilot (deregister, drain, SIGQUIT to nginx)")
    finally:
        for name in backends:  # only those not stopped yet (an early exit, Ctrl-C)
            stop(name)
        if nginx.poll() is None:
            nginx.send_signal(signal.SIGTERM)
        code = nginx.wait(20)
        for process in backends.values():  # every backend, draining ones included
            process.wait(20)
    print(f"    pilot exited with {code}. Logs are in {state}")
    return 0


def start_backend(state: Path, env: dict[str, str], n: int) -> subprocess.Popen[bytes]:
    directory = state / f"backend-{n}"
    directory.mkdir()
    port = 18000 + n
    backend_env = {
        **env,
        "STATE_DIR": str(directory),
        "INSTANCE": f"backend-{n}",
        "BACKEND_APP": str(HERE / "backend" / "app.py"),
        "BACKEND_LISTEN": f"127.0.0.1:{port}",
        "BACKEND_PORT": str(port),
        "BACKEND_INTERFACE": "static:127.0.0.1",
        "BACKEND_DRAIN": "1s",
    }
    log = open(directory / "pilot.log", "w")  # noqa: SIM115 - kept open for the child
    return subprocess.Popen(
        [*PILOT, "run", "-c", str(HERE / "backend" / "pilot.json5")],
        env=backend_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def upstream(prefix: Path) -> str:
    text = (prefix / "site.conf").read_text()
    start = text.find("upstream")
    return "    " + text[start : text.find("}", start) + 1].replace("\n", "\n    ")


if __name__ == "__main__":
    sys.exit(main())
