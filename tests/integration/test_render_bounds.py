"""A template can never freeze pilot: a runaway render fails on its bound, and pilot stays
responsive and stops on time while it runs."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from pathlib import Path

from tests.helpers import Pilot, Registry, scaled, wait_for

RUNAWAY = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}x\n"


def config(registry: Registry, tmp_path: Path) -> dict[str, object]:
    return {
        "consul": registry.address,
        "stop_timeout": "3s",
        "jobs": [{"name": "app", "exec": ["sleep", "300"], "main": True}],
        "templates": [
            {
                "name": "slow",
                "contents": RUNAWAY,
                "dest": str(tmp_path / "slow.conf"),
                "render_timeout": "500ms",
            }
        ],
    }


def failed_with(p: Pilot, reason: str) -> bool:
    """Whether pilot's one template has failed, with `reason` in its last error."""
    result = p.ctl("status", "--json")
    if result.returncode != 0:
        return False
    [template] = json.loads(result.stdout)["templates"]
    return bool(template["failures"] >= 1 and reason in (template["last_error"] or ""))


def test_a_runaway_render_fails_on_its_bound_and_pilot_stays_responsive(
    pilot: Callable[..., Pilot], registry: Registry, tmp_path: Path
) -> None:
    """A render past `render_timeout` is renderFailed with the file left alone, and the control
    socket answers at once while the runaway render still burns its thread."""
    (tmp_path / "slow.conf").write_text("previous\n")
    p = pilot(config(registry, tmp_path))
    wait_for(lambda: failed_with(p, "longer than 0.5s"), 10, message=f"renderFailed\n{p.output}")
    started = time.monotonic()
    assert p.ctl("ping").returncode == 0
    assert time.monotonic() - started < scaled(2.0), "the control socket answered slowly"
    assert (tmp_path / "slow.conf").read_text() == "previous\n"


def test_sigterm_during_a_runaway_render_exits_within_stop_timeout(
    pilot: Callable[..., Pilot], registry: Registry, tmp_path: Path
) -> None:
    """SIGTERM while a render loops exits pilot within stop_timeout."""
    p = pilot(config(registry, tmp_path))
    p.wait_for_output(r"app started", 10)
    sent = time.monotonic()
    p.signal(signal.SIGTERM)
    p.wait(5)
    assert time.monotonic() - sent < 3.0 + scaled(1.0), p.output


def test_a_template_that_cannot_be_written_is_render_failed(
    pilot: Callable[..., Pilot], registry: Registry, tmp_path: Path
) -> None:
    """A destination that cannot be written (its directory is a file) is renderFailed with the
    reason in last_error; pilot and its jobs keep running."""
    (tmp_path / "not-a-dir").write_text("a file\n")
    config = {
        "consul": registry.address,
        "jobs": [{"name": "app", "exec": ["sleep", "300"], "main": True}],
        "templates": [{"name": "t", "contents": "x\n", "dest": str(tmp_path / "not-a-dir" / "t")}],
    }
    p = pilot(config)
    wait_for(lambda: failed_with(p, "Not a directory"), 10, message=f"renderFailed\n{p.output}")
    assert p.proc.poll() is None
    assert "Traceback" not in p.output
