"""pilot's `containerpilot` command against what ContainerPilot 3.8.0's own command did with the
same arguments (tests/data/containerpilot_parity/flags.json, recorded from the real binary):
the same exit codes, the same rendered output; the differences kept are listed in
docs/migrating.md (the version, the stream and wording of error messages)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import REPO

DATA = json.loads((REPO / "tests/data/containerpilot_parity/flags.json").read_text())
STOPPED = [case for case in DATA["cases"] if case["state"] == "stopped"]


def containerpilot(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "pilot.cli.containerpilot", *args],
        capture_output=True, text=True, timeout=30, env=env, cwd=cwd,
    )  # fmt: skip


@pytest.mark.parametrize("case", STOPPED, ids=[" ".join(c["args"]) or "(none)" for c in STOPPED])
def test_the_command_exits_as_containerpilot_does(case: dict[str, Any], tmp_path: Path) -> None:
    """With no ContainerPilot running: usage errors exit 2, everything else that fails 1; the
    rendered template is byte for byte ContainerPilot's."""
    for name, text in DATA["files"].items():
        (tmp_path / name).write_text(text.replace("{dir}", str(tmp_path)))
    args = [arg.replace("{dir}", str(tmp_path)) for arg in case["args"]]
    result = containerpilot(args, tmp_path)
    assert result.returncode == case["exit"], result.stderr
    if case["args"][:1] == ["-template"] and case["exit"] == 0:
        if "-out" in case["args"]:
            assert (tmp_path / "out.json5").read_text() == DATA["files"]["cp.json5"].replace(
                "{dir}", str(tmp_path)
            )
        else:
            assert result.stdout == case["stdout"].replace("{dir}", str(tmp_path))
    if case["args"] == ["-version"]:
        assert result.stdout.startswith("Version: ") and "\nGitHash: " in result.stdout
    if "-config flag is required" in case["stdout"]:
        assert "-config flag is required" in result.stderr
