"""`pilot up` on examples/devstack: (a) `pilot up` started → store, api and web all passing in
the stack's registry; (b) api.py saved with a new version → the new api answering (the watch's
debounce, the build, the restart, the new process listening), web and store untouched;
(c) `pilot ctl rebuild api` (a new `pilot` process, the build, the restart) → api answering.

Run: `python -m bench.up_devstack [--runs N]`. Polls every 5 ms, so times are ±5 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench import common

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "devstack"
SERVICES = ("store", "api", "web")
POLL = 0.005


def _get(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return bytes(answer.read())
    except OSError:
        return None


def _ports(root: Path) -> dict[str, int]:
    try:
        return dict(json.loads((root / ".pilot" / "ports.json").read_text()))
    except (OSError, ValueError):
        return {}


def _all_passing(root: Path) -> bool:
    ports = _ports(root)
    if "@consul" not in ports:
        return False
    base = f"http://127.0.0.1:{ports['@consul']}/v1/health/service"
    return all(_get(f"{base}/{name}?passing") not in (None, b"[]") for name in SERVICES)


def _until(predicate: object, timeout: float = 30.0) -> float:
    """Poll `predicate` (a callable) until true; the monotonic time it became true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return time.monotonic()
        time.sleep(POLL)
    raise TimeoutError("not within 30 s")


def _start(root: Path) -> tuple[subprocess.Popen[bytes], float]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pilot", "up"],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    return proc, started


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    proc.wait(20)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="pilot-devstack-"))
    try:
        for name in ("pilot.json5", "store.py", "api.py", "web.py", "dnsfind.py"):
            shutil.copy(EXAMPLE / name, root / name)
        ups = []
        for _ in range(args.runs):
            proc, started = _start(root)
            ups.append(_until(lambda: _all_passing(root)) - started)
            _stop(proc)
        proc, started = _start(root)
        _until(lambda: _all_passing(root))
        api = f"http://127.0.0.1:{_ports(root)['api']}/items"
        source = root / "api.py"
        changes = []
        for version in range(2, 2 + args.runs):
            text = source.read_text()
            saved = time.monotonic()
            source.write_text(text.replace(f'VERSION = "{version - 1}"', f'VERSION = "{version}"'))
            marker = f'"version": "{version}"'.encode()
            changes.append(_until(lambda m=marker: m in (_get(api) or b"")) - saved)
        rebuilds = []
        for _ in range(args.runs):
            before = _get(api)
            asked = time.monotonic()
            subprocess.run(
                [sys.executable, "-m", "pilot", "ctl", "rebuild", "api"],
                cwd=root,
                env={**os.environ, "PYTHONPATH": str(REPO)},
                check=True,
                stdout=subprocess.DEVNULL,
            )
            rebuilds.append(_until(lambda b=before: _get(api) == b) - asked)
        _stop(proc)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    figures = (
        (
            f"`pilot up` → store, api, web passing (first run, ports picked: {ups[0] * 1000:.0f})",
            ups,
        ),
        ("`api.py` saved → new api serving", changes),
        ("`pilot ctl rebuild api` → api serving again", rebuilds),
    )
    rows = [
        (
            title,
            f"{statistics.median(v) * 1000:.0f}",
            f"{min(v) * 1000:.0f}",
            f"{max(v) * 1000:.0f}",
        )
        for title, v in figures
    ]
    common.emit(
        "up_devstack",
        "## pilot up\n\n" + common.table(("figure", "median ms", "min", "max"), rows),
        {"up": ups, "saved_to_serving": changes, "rebuild_to_serving": rebuilds},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
