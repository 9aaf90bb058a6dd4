"""Build the self-contained pilot: a directory holding `pilot` and its own Python interpreter.

    python packaging/build_bundle.py --out dist/pilot

The result runs on a glibc Linux of the build machine's architecture with no Python installed
(`COPY` it to /opt/pilot and run `/opt/pilot/pilot run -c ...`). It is a PyInstaller onedir
build of this checkout (packaging/pilot.spec), made in a fresh virtual environment holding only
pilot, its dependencies and the PyInstaller this interpreter has, so the bundle carries nothing
else.
Needs the `bundle` extra (`pip install '.[bundle]'`), binutils, and an interpreter built with a
shared libpython (python.org, Debian, pyenv with --enable-shared, the official Docker images).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def build(out: Path) -> None:
    """Build the bundle into `out` (replaced if it exists): `out/pilot` is the command,
    `out/containerpilot` its ContainerPilot-compatible one."""
    try:
        bundler = f"pyinstaller=={version('pyinstaller')}"
    except PackageNotFoundError:
        sys.exit("build_bundle: PyInstaller is not installed: pip install '.[bundle]'")
    if not sysconfig.get_config_var("Py_ENABLE_SHARED"):
        sys.exit(f"build_bundle: {sys.executable} has no shared libpython to bundle")
    with tempfile.TemporaryDirectory(prefix="pilot-bundle-") as temp:
        work = Path(temp)
        venv = work / "venv"
        python = venv / "bin" / "python"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, str(ROOT), bundler], check=True)
        subprocess.run(
            [
                str(python),
                "-m",
                "PyInstaller",
                "--noconfirm",
                "--log-level=WARN",
                f"--distpath={work / 'dist'}",
                f"--workpath={work / 'build'}",
                str(HERE / "pilot.spec"),
            ],
            check=True,
            cwd=work,
        )
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(work / "dist" / "pilot", out)
    (out / "containerpilot").symlink_to("pilot")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist" / "pilot", help="%(default)s")
    out = parser.parse_args().out.resolve()
    started = time.monotonic()
    build(out)
    print(f"{out / 'pilot'} built in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
