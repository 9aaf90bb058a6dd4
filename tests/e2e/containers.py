"""Emulated containers for end-to-end tests: each instance is `pilot run` as PID 1 of its own
PID, UTS and mount namespaces, with its own hostname, loopback address, control socket and
state directory. stop = SIGTERM to PID 1, kill = SIGKILL, pause = SIGSTOP to every process."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from pathlib import Path

from tests.helpers import PYTHON, REPO, require_pid_namespace, scaled, wait_for

EXAMPLE = REPO / "examples" / "nginx"
REDIS_EXAMPLE = REPO / "examples" / "redis"


def require_containers() -> None:
    """Root, unshare (start) and nsenter (Container.exec); skips, or fails under CI."""
    require_pid_namespace()


class Container:
    """One emulated container running `pilot run -c config` as its PID 1."""

    def __init__(self, name: str, config: Path, env: dict[str, str], state: Path) -> None:
        self.name, self.config, self.env, self.state = name, config, env, state
        self.state.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = state / "pilot.log"

    def start(self) -> Container:
        full_env = {**os.environ, "PYTHONPATH": str(REPO), **self.env}
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    "unshare",
                    "--pid",
                    "--uts",
                    "--mount",
                    "--fork",
                    "--mount-proc",
                    "sh",
                    "-c",
                    'hostname "$0" && exec "$@"',
                    self.name,
                    PYTHON,
                    "-m",
                    "pilot",
                    "run",
                    "-c",
                    str(self.config),
                ],
                env=full_env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def pid1(self) -> int:
        """PID 1 of the container, as seen from the host."""
        assert self.proc is not None

        def child() -> int | None:
            path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")  # type: ignore[union-attr]
            try:
                found = path.read_text().split()
            except OSError:
                return None
            return int(found[0]) if found else None

        return int(wait_for(child, 5, message=f"{self.name} PID 1"))

    def processes(self) -> list[int]:
        """Every process in the container's PID namespace."""
        namespace = os.readlink(f"/proc/{self.pid1}/ns/pid")
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.readlink(f"/proc/{entry}/ns/pid") == namespace:
                        found.append(int(entry))
                except OSError:
                    continue
        return found

    def stop(self, timeout: float = 20) -> int:
        """`docker stop`: SIGTERM to PID 1, wait for the container to end."""
        os.kill(self.pid1, signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> None:
        """`docker kill`: SIGKILL to PID 1; the kernel kills the rest of the namespace."""
        os.kill(self.pid1, signal.SIGKILL)
        self.wait(10)

    def pause(self) -> None:
        self._signal_each(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal_each(signal.SIGCONT)

    def _signal_each(self, signum: int) -> None:
        # A process may end between the listing and its signal: a check that finished while
        # the container was paused is reaped by PID 1 as soon as PID 1 gets its SIGCONT.
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(scaled(timeout))

    def exec(self, *argv: str) -> subprocess.CompletedProcess[str]:
        """`docker exec`: run a command inside the container's namespaces."""
        return subprocess.run(
            ["nsenter", "-t", str(self.pid1), "-p", "-m", "-u", *argv],
            capture_output=True,
            text=True,
            timeout=scaled(20),
        )

    def ctl(self, *args: str) -> subprocess.CompletedProcess[str]:

        return subprocess.run(
            [PYTHON, "-m", "pilot", "ctl", "--socket", str(self.state / "pilot.sock"), *args],
            capture_output=True,
            text=True,
            timeout=scaled(20),
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )

    def cleanup(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.resume()
                self.kill()
            except (ProcessLookupError, AssertionError, subprocess.TimeoutExpired):
                os.killpg(self.proc.pid, signal.SIGKILL)


def nginx_container(
    registry: str, state: Path, port: int, address: str = "127.0.0.2", **env: str
) -> Container:
    """The example's nginx, listening on address:port."""
    prefix = state / "nginx"
    prefix.mkdir(parents=True, exist_ok=True)
    shutil.copy(EXAMPLE / "nginx.conf", prefix / "nginx.conf")
    return Container(
        "nginx",
        EXAMPLE / "pilot.json5",
        {
            "CONSUL": registry,
            "NGINX_PREFIX": str(prefix),
            "PILOT_UPSTREAMS": "backend",
            "NGINX_PORT": str(port),
            "NGINX_LISTEN": f"{address}:{port}",
            "NGINX_HEALTH_HOST": address,
            "NGINX_INTERFACE": f"static:{address}",
            "TELEMETRY_PORT": str(port + 1),
            "NGINX_EXAMPLE": str(EXAMPLE),
            "PILOT_BIN": f"{PYTHON} -m pilot",
            **env,
        },
        state,
    )


def backend_container(
    registry: str, state: Path, number: int, port: int = 8000, **env: str
) -> Container:
    """Backend number N on 127.0.0.(10+N):port, answering with its name."""
    address = f"127.0.0.{10 + number}"
    return Container(
        f"backend-{number}",
        EXAMPLE / "backend" / "pilot.json5",
        {
            "CONSUL": registry,
            "STATE_DIR": str(state),
            "INSTANCE": f"backend-{number}",
            "BACKEND_APP": str(EXAMPLE / "backend" / "app.py"),
            "BACKEND_LISTEN": f"{address}:{port}",
            "BACKEND_PORT": str(port),
            "BACKEND_INTERFACE": f"static:{address}",
            "BACKEND_CHECK_HOST": address,
            **env,
        },
        state,
    )


def redis_address(number: int) -> str:
    """Where redis node N listens: its own loopback address."""
    return f"127.0.0.{20 + number}"


def redis_container(registry: str, state: Path, number: int, port: int, **env: str) -> Container:
    """Redis node N of the redis example, on redis_address(N):port, its data in `state`."""
    address = redis_address(number)
    return Container(
        f"redis-{number}",
        REDIS_EXAMPLE / "pilot.json5",
        {
            "CONSUL": registry,
            "REDIS_DIR": str(state),
            "REDIS_PORT": str(port),
            "REDIS_BIND": address,
            "REDIS_INTERFACE": f"static:{address}",
            "REDIS_EXAMPLE": str(REDIS_EXAMPLE),
            **env,
        },
        state,
    )
