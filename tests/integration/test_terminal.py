"""pilot in a terminal (`docker run -it`, or a shell): Ctrl-C is pilot's, unless a job asks
for the terminal."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import termios
import threading
from pathlib import Path

from tests.helpers import PYTHON, REPO, read_lines, scaled, wait_for


class InTerminal:
    """`pilot run -c CONFIG` as the session leader of a new pseudo-terminal."""

    def __init__(self, config: dict[str, object], workdir: Path) -> None:
        path = workdir / "pilot.json5"
        path.write_text(json.dumps({"control": {"socket": str(workdir / "s.sock")}, **config}))
        self.master, slave = os.openpty()

        def take_terminal() -> None:  # runs in the child, after setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(
            [PYTHON, "-m", "pilot", "run", "-c", str(path)],
            cwd=workdir,
            env={**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"},
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            preexec_fn=take_terminal,
        )
        os.close(slave)
        self._seen = bytearray()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                return
            if not chunk:
                return
            self._seen += chunk

    @property
    def output(self) -> str:
        return self._seen.decode(errors="replace")

    def press_ctrl_c(self) -> None:
        os.write(self.master, b"\x03")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        os.close(self.master)


def hooks_config(tmp_path: Path, **app: object) -> dict[str, object]:
    log = tmp_path / "log"
    return {
        "jobs": [
            {
                "name": "app",
                "main": True,
                "restarts": "unlimited",
                "exec": ["sh", "-c", f"echo started >> {log}; exec sleep 300"],
                **app,
            },
            {
                "name": "pre-stop",
                "exec": ["sh", "-c", f"echo pre-stop >> {log}"],
                "when": {"source": "app", "once": "stopping"},
            },
        ]
    }


def test_ctrl_c_in_a_terminal_starts_pilots_shutdown(tmp_path: Path) -> None:
    """Ctrl-C reaches pilot, not the main job: the pre-stop hook runs while the app still
    runs, the app is stopped by pilot (SIGTERM) and not restarted, and pilot exits."""
    term = InTerminal(hooks_config(tmp_path), tmp_path)
    try:
        wait_for(lambda: read_lines(tmp_path / "log") == ["started"], 10, message=term.output)
        term.press_ctrl_c()
        assert term.proc.wait(scaled(10)) == 143, term.output
        assert read_lines(tmp_path / "log") == ["started", "pre-stop"], term.output
        assert "received SIGINT, shutting down" in term.output
    finally:
        term.close()


def test_a_job_with_the_terminal_gets_ctrl_c(tmp_path: Path) -> None:
    """With `terminal: true` the job is the terminal's foreground: Ctrl-C goes to it (it dies
    of SIGINT) and pilot, which did not receive it, restarts it."""
    term = InTerminal(hooks_config(tmp_path, terminal=True), tmp_path)
    try:
        wait_for(lambda: read_lines(tmp_path / "log") == ["started"], 10, message=term.output)
        term.press_ctrl_c()
        wait_for(
            lambda: read_lines(tmp_path / "log") == ["started", "started"],
            10,
            message=f"the job restarted after its Ctrl-C\n{term.output}",
        )
        assert "received SIGINT" not in term.output
        assert "code=130" in term.output
    finally:
        term.close()
