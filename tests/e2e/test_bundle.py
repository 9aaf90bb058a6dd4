"""The self-contained bundle (packaging/build_bundle.py) in an image without Python: every Python
installation of this machine is hidden in a mount namespace, the bundle sits at /opt/pilot as in
examples/nginx/Dockerfile.bundle, whose last stage is replayed, and `pilot run` is PID 1."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version
from importlib.util import find_spec
from pathlib import Path

import pytest

from tests.helpers import (
    PYTHON,
    REPO,
    require,
    require_package_index,
    require_pid_namespace,
    scaled,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]  # the first test also builds

BUNDLE_DIR = "/opt/pilot"
BUILD = [PYTHON, str(REPO / "packaging" / "build_bundle.py"), "--out"]
DOCKERFILE = REPO / "examples" / "nginx" / "Dockerfile.bundle"

# Inside the namespace: a private scratch tmpfs, /etc made writable through an overlay (the
# image's own files are copied in), /opt and /run empty as in a fresh image, the bundle at
# /opt/pilot, every Python installation covered by an empty directory or file; then the entry.
NAMESPACE_SCRIPT = """
set -eu
scratch=$1 bundle=$2 files=$3 hidden_dirs=$4 hidden_files=$5
shift 5
mount -t tmpfs pilot-test "$scratch"
mkdir "$scratch/empty" "$scratch/upper" "$scratch/work"
: > "$scratch/empty-file"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$scratch/upper,workdir=$scratch/work" /etc
mount -t tmpfs pilot-test /opt
mount -t tmpfs pilot-test /run
mkdir /opt/pilot
mount --bind "$bundle" /opt/pilot
cp -R "$files/." /
while read -r path; do mount --bind "$scratch/empty" "$path"; done < "$hidden_dirs"
while read -r path; do mount --bind "$scratch/empty-file" "$path"; done < "$hidden_files"
for name in python3 python; do
  if command -v "$name" >/dev/null; then echo "$name is still there" >&2; exit 99; fi
done
exec "$@"
"""


def python_installations() -> list[Path]:
    """Every Python installation of this machine: prefixes, interpreters and libraries."""
    found: set[Path] = set()
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}:
        if Path(prefix) not in (Path("/"), Path("/usr"), Path("/usr/local")):
            found.add(Path(prefix).resolve())  # a venv, pyenv's version, /opt/python...
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    if pyenv.is_dir():
        found.add(pyenv.resolve())
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    directories = {
        *os.environ.get("PATH", "").split(os.pathsep),
        "/bin",
        "/usr/bin",
        "/usr/local/bin",
        "/usr/lib",
        "/usr/local/lib",
        f"/usr/lib/{multiarch}",
    }
    for directory in filter(None, directories):
        for pattern in ("python*", "libpython*"):
            found.update(path.resolve() for path in Path(directory).glob(pattern))
    found = {path for path in found if path.exists()}
    return sorted(path for path in found if not any(p in found for p in path.parents))


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundle, built once for this module with the command the README documents."""
    require_pid_namespace()
    require(
        find_spec("PyInstaller") is not None,
        "PyInstaller is not installed (pip install -e '.[bundle]')",
    )
    require(shutil.which("objdump") is not None, "PyInstaller needs binutils (objdump, strip)")
    require_package_index()  # the build installs pilot and PyInstaller into a fresh venv
    out = tmp_path_factory.mktemp("bundle") / "pilot"
    started = time.monotonic()
    build = subprocess.run([*BUILD, str(out)], capture_output=True, text=True, timeout=scaled(900))
    assert build.returncode == 0, build.stdout + build.stderr
    print(f"bundle built in {time.monotonic() - started:.1f} s")
    assert (out / "pilot").is_file()
    return out


class BareImage:
    """A command run in a mount and PID namespace where no Python exists, as its PID 1."""

    def __init__(
        self,
        bundle: Path,
        workdir: Path,
        argv: Sequence[str],
        files: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        scratch, staging = workdir / "scratch", workdir / "files"
        scratch.mkdir(parents=True)
        staging.mkdir()
        for path, text in (files or {}).items():
            assert path.startswith("/etc/"), "files go to /etc, the overlay"
            (staging / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
            (staging / path.lstrip("/")).write_text(text)
        hidden = python_installations()
        (workdir / "hidden-dirs").write_text("".join(f"{p}\n" for p in hidden if p.is_dir()))
        (workdir / "hidden-files").write_text("".join(f"{p}\n" for p in hidden if p.is_file()))
        self.proc = subprocess.Popen(
            [
                *("unshare", "--mount", "--pid", "--fork", "--mount-proc"),
                *("sh", "-c", NAMESPACE_SCRIPT, "sh", str(scratch), str(bundle), str(staging)),
                *(str(workdir / "hidden-dirs"), str(workdir / "hidden-files"), *argv),
            ],
            env={"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    @property
    def pid(self) -> int:
        """The host pid of the namespace's PID 1."""

        def child() -> int | None:
            path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
            pids = path.read_text().split() if path.exists() else []
            return int(pids[0]) if pids else None

        return int(wait_for(child, 10, message="PID 1 of the namespace"))

    def wait(self, timeout: float = 20) -> int:
        code = self.proc.wait(scaled(timeout))
        self._reader.join(scaled(5))
        return code

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(scaled(5))


@pytest.fixture
def bare(bundle: Path) -> Iterator[list[BareImage]]:
    """The BareImage instances a test starts: whatever is left of them is killed afterwards."""
    started: list[BareImage] = []
    yield started
    for image in started:
        image.stop()


def children(pid: int) -> list[tuple[int, str, str]]:
    """(pid, state, command line) of every child of `pid`, read from the host's /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        state, ppid = stat[stat.rindex(")") + 2 :].split()[:2]
        if int(ppid) == pid:
            found.append((int(entry.name), state, cmdline))
    return found


def test_bundle_is_pid1_reaps_orphans_and_serves_ctl_without_python(
    bundle: Path, bare: list[BareImage], tmp_path: Path
) -> None:
    """As PID 1 with no Python anywhere, the bundle runs a job in pilot's own environment (none
    of the bootloader's variables), adopts and reaps its orphans, answers the bundled `pilot ctl`
    started by that job, and exits with the job's code."""
    release, ready, status = tmp_path / "release", tmp_path / "ready", tmp_path / "status.json"
    orphan = f'while [ ! -e "{release}" ]; do sleep 0.05; done'
    script = (
        f"for i in $(seq 10); do (sh -c '{orphan}' &); done; "
        f"env > {tmp_path / 'env'}; "
        f"{BUNDLE_DIR}/pilot ctl status --json > {status}; touch {ready}; "
        "trap 'exit 7' TERM; sleep 600 & wait $!"
    )
    config = {"jobs": [{"name": "app", "exec": ["sh", "-c", script]}]}
    image = BareImage(
        bundle,
        tmp_path,
        [f"{BUNDLE_DIR}/pilot", "run", "-c", "/etc/pilot.json5"],
        files={"/etc/pilot.json5": json.dumps(config)},
    )
    bare.append(image)
    wait_for(ready.exists, 20, message=f"the job ready\n{image.output}")
    document = json.loads(status.read_text())
    assert document["pid"] == 1
    inherited = (tmp_path / "env").read_text()
    assert "LD_LIBRARY_PATH" not in inherited and "_PYI_" not in inherited, inherited
    assert document["version"] == version("pilot-supervisor")
    assert [job["state"] for job in document["jobs"]] == ["running"]

    pilot = image.pid

    def orphans() -> list[tuple[int, str, str]]:
        return [child for child in children(pilot) if child[2].strip() == f"sh -c {orphan}"]

    wait_for(lambda: len(orphans()) == 10, 10, message=f"10 orphans adopted: {children(pilot)}")
    release.touch()

    def reaped() -> bool:
        return not orphans() and not [c for c in children(pilot) if c[1] == "Z"]

    wait_for(reaped, 10, message=f"orphans gone, no zombie left: {children(pilot)}")
    os.kill(pilot, signal.SIGTERM)
    assert image.wait() == 7, image.output
    assert "Traceback" not in image.output


def test_bundled_consul_dev_serves_the_kv_store_without_python(
    bundle: Path, bare: list[BareImage], tmp_path: Path
) -> None:
    """`pilot consul-dev` from the bundle, with no Python anywhere, answers on loopback."""
    image, address = consul_dev(bundle, tmp_path, bare)
    url = f"http://{address}/v1/kv/bundle"
    urllib.request.urlopen(
        urllib.request.Request(url, b"no python", method="PUT"), timeout=scaled(5)
    )
    assert fetch(url + "?raw") == "no python"
    os.kill(image.pid, signal.SIGTERM)
    assert image.wait() == 0, image.output


def consul_dev(bundle: Path, workdir: Path, bare: list[BareImage]) -> tuple[BareImage, str]:
    """The bundled `pilot consul-dev` on a free loopback port, and its address."""
    image = BareImage(
        bundle, workdir, [f"{BUNDLE_DIR}/pilot", "consul-dev", "--listen", "127.0.0.1:0"]
    )
    bare.append(image)
    address = wait_for(
        lambda: next((line for line in image.lines if re.fullmatch(r"[\d.]+:\d+", line)), None),
        20,
        message=f"consul-dev's address\n{image.output}",
    )
    return image, str(address)


@dataclass
class Stage:
    """What this test replays of one stage of a Dockerfile."""

    runs: list[str] = field(default_factory=list)
    copies: list[tuple[str, str]] = field(default_factory=list)  # (source words, destination)
    inline: dict[str, str] = field(default_factory=dict)  # COPY <<'EOF' destination
    env: dict[str, str] = field(default_factory=dict)
    stopsignal: str | None = None
    entrypoint: list[str] = field(default_factory=list)


def stages(path: Path) -> list[Stage]:
    """The stages of a Dockerfile: RUN, COPY (files and here-documents), ENV, STOPSIGNAL and
    ENTRYPOINT; other instructions change nothing this test can replay."""
    lines, found = path.read_text().splitlines(), []
    while lines:
        line = lines.pop(0)
        if not line.strip() or line.startswith("#"):
            continue
        while line.endswith("\\"):
            line = line[:-1] + " " + lines.pop(0).strip()
        instruction, _, rest = line.partition(" ")
        if instruction == "FROM":
            found.append(Stage())
            continue
        stage = found[-1]
        heredoc = re.fullmatch(r"<<'(\w+)' (\S+)", rest)
        if instruction == "COPY" and heredoc:
            end = lines.index(heredoc.group(1))
            stage.inline[heredoc.group(2)] = "\n".join(lines[:end]) + "\n"
            del lines[: end + 1]
        elif instruction == "COPY":
            *sources, destination = rest.split()
            stage.copies.append((" ".join(sources), destination))
        elif instruction == "RUN":
            stage.runs.append(rest)
        elif instruction == "ENV":
            for item in shlex.split(rest):
                name, _, value = item.partition("=")
                stage.env[name] = value
        elif instruction == "STOPSIGNAL":
            stage.stopsignal = rest
        elif instruction == "ENTRYPOINT":
            stage.entrypoint = json.loads(rest)
    return found


class Backend(BaseHTTPRequestHandler):
    """A backend answering every GET with its name."""

    def do_GET(self) -> None:
        body = b"backend-1"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def fetch(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=scaled(2)) as response:
            return str(response.read().decode())
    except OSError:
        return None


def test_dockerfile_bundle_runs_nginx_through_the_bundled_registry(
    bundle: Path, bare: list[BareImage], tmp_path: Path
) -> None:
    """examples/nginx/Dockerfile.bundle replayed without Python: the bundle renders the shipped
    site template from the bundled consul-dev, nginx proxies to a registered backend and is
    registered passing, and the image's STOPSIGNAL ends it with exit code 0."""
    require(
        shutil.which("nginx") is not None, "nginx is not installed (apt-get install nginx-light)"
    )
    builder, image = stages(DOCKERFILE)
    assert any(f"packaging/build_bundle.py --out {BUNDLE_DIR}" in run for run in builder.runs)
    assert (f"--from=pilot-bundle {BUNDLE_DIR}", BUNDLE_DIR) in image.copies
    assert image.entrypoint == [f"{BUNDLE_DIR}/pilot", "run", "-c", "/etc/pilot.json5"]
    assert image.stopsignal, "nginx's image stops with SIGQUIT, which is no stop for pilot"
    files = {dst: (REPO / src).read_text() for src, dst in image.copies if "--from" not in src}
    _, consul = consul_dev(bundle, tmp_path / "registry", bare)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Backend)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        service = {"Name": "backend", "ID": "backend-1", "Address": "127.0.0.1", "Port": 0}
        service["Port"] = server.server_port
        register = f"http://{consul}/v1/agent/service/register"
        request = urllib.request.Request(register, json.dumps(service).encode(), method="PUT")
        urllib.request.urlopen(request, timeout=scaled(5))
        port = free_port()
        run_env = {  # docker run -e ...
            "CONSUL": consul,
            "NGINX_PORT": str(port),
            "NGINX_LISTEN": f"127.0.0.1:{port}",
            "NGINX_INTERFACE": "static:127.0.0.1",
        }
        nginx = BareImage(
            bundle,
            tmp_path / "nginx",
            image.entrypoint,
            files={**files, **image.inline},
            env={**image.env, **run_env},
        )
        bare.append(nginx)
        answer = wait_for(
            lambda: fetch(f"http://127.0.0.1:{port}/"), 30, message=f"nginx\n{nginx.output}"
        )
        assert answer == "backend-1"
        passing = f"http://{consul}/v1/health/service/nginx?passing=1"
        wait_for(lambda: json.loads(fetch(passing) or "[]"), 20, message="nginx passing")
        os.kill(nginx.pid, signal.Signals[image.stopsignal])
        assert nginx.wait() == 0, nginx.output
    finally:
        server.shutdown()
        server.server_close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_bundled_containerpilot_is_containerpilots_command_line(
    bundle: Path, bare: list[BareImage], tmp_path: Path
) -> None:
    """The bundle's `containerpilot`, a link to its `pilot`, answers ContainerPilot's -version."""
    image = BareImage(bundle, tmp_path, [f"{BUNDLE_DIR}/containerpilot", "-version"])
    bare.append(image)
    assert image.wait() == 0, image.output
    assert f"Version: {version('pilot-supervisor')} (pilot" in image.output
