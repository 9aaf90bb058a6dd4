"""Shared test helpers: run the real `pilot`, wait on conditions, skip or fail on missing tools."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import termios
import textwrap
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import pytest

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def _timeout_scale() -> float:
    text = os.environ.get("PILOT_TEST_TIMEOUT_SCALE", "5")
    try:
        scale = float(text)
    except ValueError:
        scale = 0.0
    if not scale > 0:
        raise SystemExit(f"PILOT_TEST_TIMEOUT_SCALE: must be a number above 0, not {text!r}")
    return scale


# Every deadline in the suite is multiplied by this: a loaded machine is slower, not wrong.
# Only deadlines (how long to wait for something that must happen) scale; a time a condition
# must hold, or a duration pilot itself is configured with, does not.
TIMEOUT_SCALE = _timeout_scale()


def scaled(seconds: float) -> float:
    """`seconds` of deadline, stretched by PILOT_TEST_TIMEOUT_SCALE (default 5)."""
    return seconds * TIMEOUT_SCALE


def wait_for(
    predicate: Callable[[], Any],
    timeout: float = 5.0,
    interval: float = 0.02,
    message: str = "condition",
) -> Any:
    """Poll `predicate` until it returns something truthy; fail the test after `timeout`
    (scaled by PILOT_TEST_TIMEOUT_SCALE)."""
    limit = scaled(timeout)
    deadline = time.monotonic() + limit
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {limit:g}s waiting for {message}")
        time.sleep(interval)


def require(condition: bool, reason: str) -> None:
    """Skip when `condition` is false, unless PILOT_REQUIRE_E2E=1 (CI), which fails instead."""
    if condition:
        return
    if os.environ.get("PILOT_REQUIRE_E2E") == "1":
        pytest.fail(f"required for CI but missing: {reason}")
    pytest.skip(reason)


@functools.cache
def _package_index_answers(url: str) -> str | None:
    """None when `url` answers over HTTP, else why not (a HEAD: the index's body is long)."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=scaled(5)):
            return None
    except (OSError, ValueError) as error:
        return str(error)


def require_package_index() -> None:
    """Tests that pip-install or build from the package index (PIP_INDEX_URL, else pypi.org)
    skip when it does not answer, or fail under PILOT_REQUIRE_E2E=1."""
    url = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple/")
    reason = _package_index_answers(url)
    require(reason is None, f"the package index {url} cannot be reached: {reason}")


def require_pid_namespace() -> None:
    """Tests that run pilot as PID 1 need root and unshare/nsenter."""
    require(os.geteuid() == 0, "PID-1 tests need root for unshare --pid")
    require(
        shutil.which("unshare") is not None and shutil.which("nsenter") is not None,
        "PID-1 tests need unshare and nsenter (util-linux)",
    )


def python_job(code: str) -> list[str]:
    """argv of a job running `code` (dedented) with this Python."""
    return [PYTHON, "-c", textwrap.dedent(code)]


# A child that appends the name of every signal it receives to the file given as argv[1].
SIGNAL_RECORDER = python_job("""
    import os, signal, sys, time
    path = sys.argv[1]
    def record(signum, frame):
        with open(path, "a") as f:
            f.write(signal.Signals(signum).name + "\\n")
        if signum in (signal.SIGTERM, signal.SIGPWR):
            sys.exit(0)
    for s in (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM, signal.SIGQUIT,
              signal.SIGWINCH, signal.SIGPWR):
        signal.signal(s, record)
    open(path + ".ready", "w").close()
    while True:
        time.sleep(60)
""")


class Pilot:
    """A real `pilot run` (or `command`, e.g. "up") process, optionally PID 1 of a new PID
    namespace, and its output."""

    def __init__(
        self,
        config: dict[str, Any] | str,
        workdir: Path,
        *,
        pid1: bool = False,
        env: dict[str, str] | None = None,
        args: Sequence[str] = (),
        wrap: Sequence[str] = (),
        command: str = "run",
    ) -> None:
        self.workdir = workdir
        self.config_path = workdir / "pilot.json5"
        self.socket = workdir / "pilot.sock"
        if isinstance(config, dict) and "control" not in config:
            config = {**config, "control": {"socket": str(self.socket)}}
        text = config if isinstance(config, str) else json.dumps(config, indent=2)
        self.config_path.write_text(text)
        argv = [PYTHON, "-m", "pilot", command, "-c", str(self.config_path), *args]
        if pid1:
            require_pid_namespace()
            argv = ["unshare", "--pid", "--fork", "--mount-proc", *argv]
        argv = [*wrap, *argv]  # e.g. a network namespace of the test's own
        full_env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
        full_env.update(env or {})
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            argv,
            cwd=workdir,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.pid1 = pid1
        self._lines: list[str] = []
        self._raw: dict[str, bytearray] = {"stdout": bytearray(), "stderr": bytearray()}
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._pump, args=(stream, name), daemon=True)
            for stream, name in ((self.proc.stdout, "stdout"), (self.proc.stderr, "stderr"))
        ]
        for thread in self._threads:
            thread.start()

    def _pump(self, stream: Any, name: str) -> None:
        """Take in pilot's output on `stream` as it comes. Each read, and the lines it
        completes, happen under the lock, so `output` can tell what is still in the pipe."""
        fd, partial = stream.fileno(), b""
        while True:
            try:
                select.select([fd], [], [])
                with self._lock:
                    chunk = os.read(fd, 65536)
                    self._raw[name] += chunk
                    if chunk:
                        *lines, partial = (partial + chunk).split(b"\n")
                    else:  # the end: a last line without its newline
                        lines, partial = [partial] if partial else [], b""
                    self._lines.extend(line.decode("utf-8", "replace") for line in lines)
            except (OSError, ValueError):  # closed by stop()
                return
            if not chunk:
                return

    @property
    def output(self) -> str:
        """pilot's output so far, as lines; what it wrote before this call is in it (a test
        that saw one of its effects, a file a hook wrote, may look for the line logged before
        it, still in the pipe)."""
        streams = (("stdout", self.proc.stdout), ("stderr", self.proc.stderr))
        with self._lock:
            try:
                written = {n: len(self._raw[n]) + _unread(s.fileno()) for n, s in streams if s}
            except (OSError, ValueError):  # closed by stop()
                written = {}
        deadline = time.monotonic() + scaled(2)
        for (name, _), thread in zip(streams, self._threads, strict=True):
            while name in written and thread.is_alive() and time.monotonic() < deadline:
                with self._lock:
                    if len(self._raw[name]) >= written[name]:
                        break
                time.sleep(0.002)  # the pump's turn: it reads as soon as we let go of the lock
        with self._lock:
            return "\n".join(self._lines)

    def raw(self, stream: str) -> bytes:
        with self._lock:
            return bytes(self._raw[stream])

    def wait_for_output(self, pattern: str, timeout: float = 5.0) -> re.Match[str]:
        """Wait until a line of pilot's output matches regex `pattern`."""
        regex = re.compile(pattern)

        def found() -> re.Match[str] | None:
            for line in self.output.splitlines():
                match = regex.search(line)
                if match:
                    return match
            return None

        return wait_for(found, timeout, message=f"output matching {pattern!r}\n{self.output}")

    @property
    def pilot_pid(self) -> int:
        """pilot's pid as seen from here (the child of unshare when it is PID 1)."""
        return unshared_child(self.proc.pid) if self.pid1 else self.proc.pid

    def in_namespace(self, *argv: str) -> subprocess.CompletedProcess[str]:
        """Run a command inside pilot's PID namespace (as `docker exec` would)."""
        return in_pid_namespace(self.pilot_pid, argv)

    def signal(self, signum: int) -> None:
        os.kill(self.pilot_pid, signum)

    def request(self, method: str, url: str, timeout: float = 5) -> tuple[int, bytes]:
        """One request on the control socket, in-process: (status, body). No `pilot ctl`
        start-up, so it is cheap enough to repeat hundreds of times or sample often."""
        import http.client
        import socket as socket_module

        path = str(self.socket)

        class Connection(http.client.HTTPConnection):
            def connect(self) -> None:
                self.sock = socket_module.socket(socket_module.AF_UNIX)
                self.sock.settimeout(scaled(timeout))
                self.sock.connect(path)

        connection = Connection("localhost", timeout=scaled(timeout))
        try:
            connection.request(method, url)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def status(self) -> dict[str, Any]:
        """GET /v1/status on the control socket, in-process."""
        _, body = self.request("GET", "/v1/status")
        return dict(json.loads(body))

    def role(self, job: str) -> str | None:
        """The job's election role as this pilot sees it (None when it cannot answer)."""
        try:
            jobs = {j["name"]: j for j in self.status()["jobs"]}
        except OSError:
            return None
        return jobs[job]["role"] if job in jobs else None

    def ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run `pilot ctl --socket <this pilot's socket> ARGS`."""
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        return subprocess.run(
            [PYTHON, "-m", "pilot", "ctl", "--socket", str(self.socket), *args],
            capture_output=True,
            text=True,
            timeout=scaled(30),
            env=env,
        )

    def wait(self, timeout: float = 10.0) -> int:
        """Wait for pilot to exit and return its exit code (its output fully read)."""
        code = self.proc.wait(scaled(timeout))
        for thread in self._threads:
            thread.join(scaled(5))
        return code

    def stop(self) -> None:
        """Make sure nothing of this pilot is left (test clean-up)."""
        if self.proc.poll() is None:
            try:  # a graceful stop first, so that pilot stops its jobs too
                self.signal(signal.SIGTERM)
                self.proc.wait(scaled(15))
            except (ProcessLookupError, AssertionError, subprocess.TimeoutExpired):
                pass
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(scaled(5))
        for thread in self._threads:  # a pipe closed under its reader could be reused by then
            thread.join(scaled(2))
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def _unread(fd: int) -> int:
    """How many bytes wait in pipe `fd`."""
    return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]  # type: ignore[no-any-return]


def unshared_child(unshare_pid: int) -> int:
    """The pid (as seen from here) of the process `unshare --fork` started: PID 1 inside."""

    def child() -> int | None:
        children = Path(f"/proc/{unshare_pid}/task/{unshare_pid}/children")
        try:
            pids = children.read_text().split()
        except OSError:
            return None
        return int(pids[0]) if pids else None

    return int(wait_for(child, 5, message="pilot under unshare"))


def in_pid_namespace(pid: int, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """Run `argv` in the PID and mount namespaces of `pid` (as `docker exec` would)."""
    return subprocess.run(
        ["nsenter", "-t", str(pid), "-p", "-m", *argv],
        capture_output=True,
        text=True,
        timeout=scaled(10),
    )


def read_lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except FileNotFoundError:
        return []


def real_consul() -> str | None:
    """The real Consul binary the registry tests run against instead of consul-dev: the one
    named by PILOT_TEST_CONSUL, else `consul` on PATH (none: consul-dev)."""
    named = os.environ.get("PILOT_TEST_CONSUL")
    if named == "":
        return None  # set empty: consul-dev even with a consul on PATH
    return named or shutil.which("consul")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Registry:
    """A real registry process, which tests may kill and start again on the same port:
    `pilot consul-dev`, or real Consul in dev mode when `real_consul()` names one. With `log`,
    it logs every request it answers (debug level) to that file."""

    def __init__(self, listen: str = "127.0.0.1:0", log: Path | None = None) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.log = log
        self.consul = real_consul()
        self._data = tempfile.mkdtemp(prefix="pilot-test-consul-") if self.consul else ""
        self.address = self._start(listen)

    def _start(self, listen: str) -> str:
        if self.consul:
            return self._start_consul(listen)
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        debug = ["--log-level", "debug"] if self.log else []
        with self._output() as log:
            self.proc = subprocess.Popen(
                [PYTHON, "-m", "pilot", "consul-dev", "--listen", listen, "--dns", "off", *debug],
                stdout=subprocess.PIPE,
                stderr=log,
                stdin=subprocess.DEVNULL,
                text=True,
                env=env,
            )
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline().strip()
        assert re.fullmatch(r"[\d.]+:\d+", first), f"consul-dev printed {first!r}"
        return first

    def _start_consul(self, listen: str) -> str:
        """`consul agent -dev` on loopback, every port of its own; returns host:port once it has
        a leader and has registered its own node."""
        assert self.consul is not None
        host, _, port = listen.rpartition(":")
        http = int(port) or free_port()
        ports = {
            "-http-port": http,
            "-serf-lan-port": free_port(),
            "-serf-wan-port": free_port(),
            "-server-port": free_port(),
        }
        level = "debug" if self.log else "warn"
        argv = [self.consul, "agent", "-dev", "-client", host, "-bind", host, "-log-level", level]
        argv += ["-dns-port", "-1", "-grpc-port", "-1", "-data-dir", self._data]
        argv += ["-node", f"pilot-test-{http}"]
        argv += [str(part) for pair in ports.items() for part in pair]
        with self._output() as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        address = f"{host}:{http}"

        def ready() -> bool:
            import requests

            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"consul exited with {self.proc.returncode}")
            try:
                leader = requests.get(f"http://{address}/v1/status/leader", timeout=2).json()
                nodes = requests.get(f"http://{address}/v1/catalog/nodes", timeout=2).json()
            except (requests.RequestException, ValueError):
                return False
            return bool(leader) and bool(nodes)

        wait_for(ready, 30, message="real Consul ready")
        return address

    @contextlib.contextmanager
    def _output(self) -> Iterator[IO[str] | int]:
        """Where the registry's output goes while it starts: appended to `log`, else nowhere."""
        if self.log is None:
            yield subprocess.DEVNULL
            return
        with self.log.open("a") as file:
            yield file

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def get(self, path: str, **params: Any) -> Any:
        import requests

        response = requests.get(self.url + path, params=params, timeout=scaled(10))
        response.raise_for_status()
        return response.json()

    def put(self, path: str, body: Any = None) -> Any:
        import requests

        if isinstance(body, str | bytes):  # KV values are sent raw
            response = requests.put(self.url + path, data=body, timeout=scaled(10))
        else:
            response = requests.put(self.url + path, json=body, timeout=scaled(10))
        response.raise_for_status()
        return response

    def instances(self, service: str, passing: bool = False) -> list[dict[str, Any]]:
        """The entries of GET /v1/health/service/<service>."""
        params = {"passing": "1"} if passing else {}
        return list(self.get(f"/v1/health/service/{service}", **params))

    def kill(self) -> None:
        """SIGKILL the registry: every registration is lost."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(scaled(5))

    def restart(self) -> None:
        """A new, empty registry on the same address."""
        self.kill()
        self.address = wait_for(lambda: self._try_start(), 10, message="registry restarted")

    def _try_start(self) -> str | None:
        try:
            return self._start(self.address)
        except AssertionError:
            return None

    def stop(self) -> None:
        """End the registry once the test is done with it. SIGKILL: nothing it would do in a
        graceful stop matters then, and consul-dev's takes up to half a second (its server
        loop's poll), paid by every test with a registry."""
        if self.proc is not None and self.proc.poll() is None:
            self.kill()
        if self._data:
            shutil.rmtree(self._data, ignore_errors=True)


def self_signed_certificate(directory: Path, ip: str) -> tuple[Path, Path]:
    """A throwaway certificate and key for `ip` (openssl), as (cert.pem, key.pem)."""
    require(shutil.which("openssl") is not None, "openssl is missing")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            f"/CN={ip}",
            "-addext",
            f"subjectAltName=IP:{ip}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def holds(
    predicate: Callable[[], Any],
    seconds: float,
    interval: float = 0.02,
    message: str = "condition",
) -> None:
    """Assert that `predicate` stays truthy at every sample for `seconds` (a value that must not
    move, such as a counter that a bug would keep climbing)."""
    started = time.monotonic()
    deadline = started + seconds
    while True:
        if not predicate():
            elapsed = time.monotonic() - started
            raise AssertionError(f"{message} stopped holding after {elapsed:.2f}s")
        if time.monotonic() > deadline:
            return
        time.sleep(interval)
