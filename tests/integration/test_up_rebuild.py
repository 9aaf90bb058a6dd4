"""Restart and rebuild one service of a `pilot up` stack, by hand and on file changes."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from tests.helpers import Pilot, holds, python_job, read_lines, scaled, wait_for
from tests.integration.test_up_stack import SERVICE, all_passing, pids, ports, stack

# A build: appends a line to builds.log; fails, saying why, while build.fail exists.
BUILD = python_job("""
    import os, sys
    if os.path.exists("build.fail"):
        print("api.py:3: syntax error near 'retrun'")
        sys.exit(1)
    open("builds.log", "a").write("built\\n")
""")


def up(pilot: Callable[..., Pilot], config: dict[str, Any]) -> Pilot:
    return pilot(config, command="up")


def test_rebuild_restarts_only_after_a_good_build(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    """`pilot ctl rebuild api` builds while the old api serves and restarts it on the same port;
    a failed build keeps the old process and says why; web is never touched."""
    config = stack(tmp_path, "api", "web")
    config["jobs"][0]["build"] = BUILD
    p = up(pilot, config)
    wait_for(lambda: all_passing(tmp_path, "api", "web"), 15, message="both passing")
    before, port = pids(p), ports(tmp_path)["api"]
    result = p.ctl("rebuild", "api")
    assert result.returncode == 0, result.stderr
    assert read_lines(tmp_path / "builds.log") == ["built"]
    wait_for(lambda: pids(p)["api"] not in (None, before["api"]), 10, message="api restarted")
    wait_for(lambda: all_passing(tmp_path, "api"), 10, message="api passing again")
    assert requests.get(f"http://127.0.0.1:{port}/", timeout=scaled(5)).text == "api"
    assert ports(tmp_path)["api"] == port
    assert pids(p)["web"] == before["web"]
    rebuilt = pids(p)["api"]
    (tmp_path / "build.fail").touch()
    failed = p.ctl("rebuild", "api")
    assert failed.returncode == 1
    assert "build failed" in failed.stderr and "syntax error near 'retrun'" in failed.stderr
    assert pids(p) == {"api": rebuilt, "web": before["web"]}
    assert requests.get(f"http://127.0.0.1:{port}/", timeout=scaled(5)).text == "api"
    p.signal(signal.SIGTERM)
    assert p.wait(15) == 0


def test_a_change_under_watch_rebuilds_once_per_burst(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    """Saving several files under `watch.paths` at once runs one build and one restart;
    ignored files, the other service and a job stopped through ctl are left alone."""
    (tmp_path / "src").mkdir()
    config = stack(tmp_path, "api", "web")
    config["jobs"][0].update(
        build=BUILD, watch={"paths": ["src"], "ignore": ["*.tmp"], "debounce": "200ms"}
    )
    p = up(pilot, config)
    wait_for(lambda: all_passing(tmp_path, "api", "web"), 15, message="both passing")
    p.wait_for_output(r"api\s+\| api listening")
    before = pids(p)
    (tmp_path / "src" / "scratch.tmp").write_text("ignored")
    for i in range(5):
        (tmp_path / "src" / f"module{i}.py").write_text(f"x = {i}\n")
    wait_for(lambda: read_lines(tmp_path / "builds.log"), 10, message="a build")
    wait_for(lambda: pids(p)["api"] not in (None, before["api"]), 10, message="api restarted")
    holds(lambda: read_lines(tmp_path / "builds.log") == ["built"], 1.0, message="one build")
    assert pids(p)["web"] == before["web"]
    assert "src/module0.py and 4 more changed" in p.output
    assert p.ctl("stop", "api").returncode == 0  # e.g. to run it in a debugger instead
    (tmp_path / "src" / "module0.py").write_text("x = 10\n")
    p.wait_for_output("api is stopped \\(pilot ctl stop\\): not rebuilt", 10)
    assert read_lines(tmp_path / "builds.log") == ["built"] and pids(p)["api"] is None


def test_rebuild_without_a_build_restarts_under_pilot_run(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    """Under `pilot run`, `pilot ctl rebuild` of a job without `build` restarts it."""
    p = pilot({"jobs": [{"name": "app", "exec": [*SERVICE, "app"], "env": {"PORT": "0"}}]})
    p.wait_for_output("app listening")
    first = pids(p)["app"]
    assert p.ctl("rebuild", "app").returncode == 0
    wait_for(lambda: pids(p)["app"] not in (None, first), 10, message="app restarted")
