"""SIGHUP with `reload_on_sighup`: the config is reloaded AND the signal still reaches its jobs."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.helpers import SIGNAL_RECORDER, Pilot, read_lines, wait_for


def recorder(name: str, tmp_path: Path, **extra: object) -> dict[str, object]:
    return {"name": name, "exec": [*SIGNAL_RECORDER, str(tmp_path / name)], **extra}


def pids(p: Pilot) -> dict[str, int | None]:
    return {j["name"]: j["pid"] for j in p.status()["jobs"]}


def test_sighup_both_reloads_and_is_forwarded(pilot: Callable[..., Pilot], tmp_path: Path) -> None:
    """With reload_on_sighup, one SIGHUP reaches the job forwarding it and reloads the config."""
    hup = recorder("hup", tmp_path, main=True, forward=["SIGHUP"])
    p = pilot({"reload_on_sighup": True, "jobs": [hup]})
    wait_for(lambda: (tmp_path / "hup.ready").exists(), 10, message="recorder ready")
    before = pids(p)["hup"]
    assert before is not None

    changed: dict[str, Any] = {
        "reload_on_sighup": True,
        "jobs": [hup, recorder("added", tmp_path)],
        "control": {"socket": str(p.socket)},
    }
    p.config_path.write_text(json.dumps(changed))
    p.signal(signal.SIGHUP)

    wait_for(lambda: (tmp_path / "added.ready").exists(), 10, message="reload started the new job")
    wait_for(
        lambda: read_lines(tmp_path / "hup") == ["SIGHUP"],
        5,
        message=f"SIGHUP forwarded to the job, recorded {read_lines(tmp_path / 'hup')}",
    )
    assert pids(p)["hup"] == before, "the unchanged job was left running through the reload"
    assert read_lines(tmp_path / "hup") == ["SIGHUP"], "forwarded exactly once"
    assert read_lines(tmp_path / "added") == [], "the new job started after the signal"
