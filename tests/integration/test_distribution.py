"""The distribution as a user gets it: a wheel and an sdist built by the standard front-end
(`python -m build`), the wheel installed into a fresh venv outside the checkout and used there."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tarfile
import time
import tomllib
import urllib.request
import zipfile
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path

import pytest

from tests.helpers import PYTHON, REPO, require, require_package_index, scaled, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]  # the first test also builds

VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
SHIPPED = {f"pilot/templates/nginx/{name}.conf.j2" for name in ("site", "upstreams", "locations")}


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist and the wheel of this checkout, built once for the module."""
    require(find_spec("build") is not None, "the build front-end is missing (pip install build)")
    require_package_index()  # the build's isolated environment and the venv install from it
    out = tmp_path_factory.mktemp("dist")
    started = time.monotonic()
    build = subprocess.run(
        [PYTHON, "-m", "build", "--outdir", str(out), str(REPO)],
        capture_output=True,
        text=True,
        timeout=scaled(600),
    )
    assert build.returncode == 0, build.stdout + build.stderr
    print(f"sdist and wheel built in {time.monotonic() - started:.1f} s")
    return out


@pytest.fixture(scope="module")
def venv(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv outside the checkout with the wheel (and its dependencies) installed."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([PYTHON, "-m", "venv", str(venv)], check=True, timeout=scaled(120))
    [wheel] = dist.glob("*.whl")
    install = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)],
        capture_output=True,
        text=True,
        timeout=scaled(600),
    )
    assert install.returncode == 0, install.stdout + install.stderr
    return venv


def pilot(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the venv's `pilot` command in `cwd`, with nothing of the checkout on its path."""
    return subprocess.run(
        [str(venv / "bin" / "pilot"), *args],
        capture_output=True,
        text=True,
        timeout=scaled(60),
        cwd=cwd,
        env=clean_env(),
    )


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PILOT_"))}


@pytest.fixture
def registry(venv: Path, tmp_path: Path) -> Iterator[str]:
    """The installed `pilot consul-dev` on a free loopback port: its address."""
    proc = subprocess.Popen(
        [str(venv / "bin" / "pilot"), "consul-dev", "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=tmp_path,
        env=clean_env(),
    )
    assert proc.stdout is not None
    address = proc.stdout.readline().strip()
    assert re.fullmatch(r"[\d.]+:\d+", address), address
    yield address
    proc.terminate()
    proc.wait(scaled(10))


def test_wheel_and_sdist_carry_the_shipped_templates(dist: Path) -> None:
    """Both archives hold pilot/templates/nginx/*.j2 as package data, and nothing outside pilot/."""
    [wheel] = dist.glob("pilot_supervisor-*.whl")
    [sdist] = dist.glob("pilot_supervisor-*.tar.gz")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert names >= SHIPPED
    assert {name.split("/")[0] for name in names} == {
        "pilot",
        f"pilot_supervisor-{VERSION}.dist-info",
    }
    with tarfile.open(sdist) as archive:
        members = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert members >= SHIPPED


def test_installed_pilot_is_the_wheel_and_prints_its_version(venv: Path, tmp_path: Path) -> None:
    """`pilot --version` of the installed command prints the version of the package metadata."""
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import pilot; print(pilot.__file__)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=clean_env(),
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(venv)
    result = pilot(venv, "--version", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, f"pilot {VERSION}\n"), result.stderr


def test_installed_pilot_validates_and_renders_a_shipped_template(
    venv: Path, registry: str, tmp_path: Path
) -> None:
    """`pilot validate` and `pilot render --dry-run` of a config using `pilot:nginx/...`."""
    service = {"Name": "web", "ID": "web-1", "Address": "127.0.0.1", "Port": 8123}
    request = urllib.request.Request(
        f"http://{registry}/v1/agent/service/register", json.dumps(service).encode(), method="PUT"
    )
    urllib.request.urlopen(request, timeout=scaled(5))
    config = {
        "consul": registry,
        "jobs": [{"name": "app", "exec": ["true"]}],
        "templates": [
            {
                "name": "upstreams",
                "source": "pilot:nginx/upstreams.conf.j2",
                "dest": str(tmp_path / "upstreams.conf"),
            }
        ],
    }
    (tmp_path / "pilot.json5").write_text(json.dumps(config))
    validate = pilot(venv, "validate", "-c", "pilot.json5", cwd=tmp_path)
    assert validate.returncode == 0, validate.stderr
    render = pilot(venv, "render", "-c", "pilot.json5", "--dry-run", cwd=tmp_path)
    assert render.returncode == 0, render.stderr
    assert re.search(r"upstream web \{\s*server 127\.0\.0\.1:8123;\s*\}", render.stdout), render
    assert not (tmp_path / "upstreams.conf").exists()


def test_installed_pilot_runs_examples_hello(venv: Path, tmp_path: Path) -> None:
    """`pilot run` of examples/hello (copied out of the checkout) serves, then stops in order."""
    shutil.copy(REPO / "examples" / "hello" / "pilot.json5", tmp_path / "pilot.json5")
    port = free_port()
    env = {**clean_env(), "HELLO_DIR": str(tmp_path / "site"), "HELLO_PORT": str(port)}
    proc = subprocess.Popen(
        [str(venv / "bin" / "pilot"), "run", "-c", "pilot.json5"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        page = wait_for(lambda: fetch(f"http://127.0.0.1:{port}/index.html"), 20, message="web")
        assert page == (tmp_path / "site" / "index.html").read_text()
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=scaled(20))
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, output
    order = ["site ready", "pre-stop: web is about", "post-stop: web is gone"]
    positions = [output.find(text) for text in order]
    assert -1 not in positions and positions == sorted(positions), output


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def fetch(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=scaled(2)) as response:
            return str(response.read().decode())
    except OSError:
        return None
