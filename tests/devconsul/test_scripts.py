"""Script checks (`Args`): Consul's exit-code, timeout and output rules with the default runner
(own process group, killed on timeout), and the refusals without the flag."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from pilot.devconsul.checks.script_process import run_in_process_group
from pilot.devconsul.server import DevConsul
from tests.devconsul.conftest import Api
from tests.devconsul.test_process import _start
from tests.helpers import scaled, wait_for

CONSUL_DEV = ("-m", "pilot", "consul-dev")


@pytest.fixture
def scripts() -> Iterator[Api]:
    """A registry that runs script checks registered over HTTP."""
    registry = DevConsul(
        "127.0.0.1:0", node="node1", script_checks="all", run_script=run_in_process_group
    )
    registry.start()
    yield Api(registry)
    registry.stop()


def check_once(api: Api, args: list[str], status: str, **extra: Any) -> dict[str, Any]:
    """Register a script check every second; its state once it has run and reached
    `status` (every case here prints something)."""
    body = {"Name": "s", "Check": {"Args": args, "Interval": "1s", **extra}}
    assert api.register(body).status_code == 200

    def reached() -> dict[str, Any] | None:
        check = api.get("/v1/agent/checks").json()["service:s"]
        return check if (check["Status"], bool(check["Output"])) == (status, True) else None

    return wait_for(reached, 10, message=f"the script check {status}")


@pytest.mark.parametrize(
    ("code", "status"), [(0, "passing"), (1, "warning"), (2, "critical"), (255, "critical")]
)
def test_exit_codes(scripts: Api, code: int, status: str) -> None:
    """Exit 0 is passing, 1 warning, anything else critical; the output is kept."""
    check = check_once(scripts, ["sh", "-c", f"echo out; echo err >&2; exit {code}"], status)
    assert check["Output"] == "out\nerr\n" and check["Type"] == "script"


def test_timeout_kills_the_process_group(scripts: Api, tmp_path: Path) -> None:
    """A run past Timeout is critical with Consul's text and what it printed, and its whole
    process group is killed (a background child included)."""
    pid_file = tmp_path / "pid"
    script = f"sleep 60 & echo $! > {pid_file}; echo started; wait"
    check = check_once(scripts, ["sh", "-c", script], "critical", Timeout="300ms")
    assert check["Output"] == "Timed out (300ms) running check\n\nstarted\n"
    child = int(pid_file.read_text())
    wait_for(lambda: not Path(f"/proc/{child}").exists() or _zombie(child), 5, message="kill")


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def test_output_keeps_the_last_bytes(scripts: Api) -> None:
    """Output past OutputMaxSize keeps its end, announced as Consul's buffer does."""
    check = check_once(scripts, ["printf", "0123456789abcdef"], "passing", OutputMaxSize=6)
    assert check["Output"] == "Captured 6 of 16 bytes\n...\nabcdef"


def test_a_program_that_cannot_start(scripts: Api) -> None:
    """A missing program is critical with Go's exec error."""
    check = check_once(scripts, ["/no/such/program"], "critical")
    assert check["Output"] == "fork/exec /no/such/program: no such file or directory"
    scripts.put("/v1/agent/service/deregister/s")
    check = check_once(scripts, ["no-such-program-here"], "critical")
    assert check["Output"] == 'exec: "no-such-program-here": executable file not found in $PATH'


def test_script_checks_need_a_runner() -> None:
    """Enabling script checks without a runner is refused: the registry starts no process."""
    with pytest.raises(ValueError, match="run_script"):
        DevConsul("127.0.0.1:0", script_checks="all")


@pytest.mark.parametrize("flag", [None, "--enable-local-script-checks"])
def test_cli_refuses_remote_scripts_without_the_flag(flag: str | None) -> None:
    """Without --enable-script-checks (or with only the local flag) HTTP registrations of
    script checks get Consul's exact remote refusal."""
    proc = _start(
        ("-m", "pilot", "consul-dev"), "--listen", "127.0.0.1:0", *([flag] if flag else [])
    )
    try:
        assert proc.stdout is not None
        url = "http://" + proc.stdout.readline().strip()
        body = {"Name": "s", "Check": {"Args": ["true"], "Interval": "1s"}}
        response = requests.put(url + "/v1/agent/service/register", json=body, timeout=scaled(5))
        assert (response.status_code, response.text) == (
            500,
            "Scripts are disabled on this agent from remote calls; to enable, configure "
            "'enable_script_checks' to true",
        )
    finally:
        proc.kill()
        proc.wait()


def test_cli_runs_scripts_with_the_flag() -> None:
    """`pilot consul-dev --enable-script-checks` runs them with its own runner."""
    proc = _start(
        ("-m", "pilot", "consul-dev"), "--listen", "127.0.0.1:0", "--enable-script-checks"
    )
    try:
        assert proc.stdout is not None
        url = "http://" + proc.stdout.readline().strip()
        body = {"Name": "s", "Check": {"Args": ["sh", "-c", "echo $$"], "Interval": "1s"}}
        assert requests.put(url + "/v1/agent/service/register", json=body, timeout=scaled(5)).ok

        def passing() -> str | None:
            check = requests.get(url + "/v1/agent/checks", timeout=scaled(5)).json()["service:s"]
            return check["Output"] if check["Status"] == "passing" else None

        pid = int(wait_for(passing, 10, message="the script passing"))
        assert pid != os.getpid()
    finally:
        proc.kill()
        proc.wait()
