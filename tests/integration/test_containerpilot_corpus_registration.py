"""What pilot registers for the corpus files ContainerPilot 3.8.0 loads and that advertise a
service, compared with what ContainerPilot itself registered in Consul for the same files
(tests/data/containerpilot_parity/corpus_registration.json, recorded by tests/cpparity/
record.py): each file runs in the same sandbox (tests/cpparity/sandbox.py: its own network,
host name and stubs in place of its commands) against a registry listening where the file
looks for Consul. Service IDs, names, tags, addresses, ports, EnableTagOverride, check IDs, their
services and statuses must be the same, and every service is gone after SIGTERM; the check
fields pilot fills differently on purpose are the file's `accepted_differences`, checked on
both sides. The corpus holds other people's files, so it is not in this repository:
PILOT_CP_CORPUS points to it (default: the shared copy)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.cpparity import order, sandbox
from tests.cpparity.runs import handles, pilot_argv, registry_argv, running
from tests.helpers import REPO, require, wait_for

DATA = json.loads((REPO / "tests/data/containerpilot_parity/corpus_registration.json").read_text())
ORDER = json.loads((REPO / "tests/data/containerpilot_parity/corpus_order.json").read_text())
CORPUS = Path(os.environ.get("PILOT_CP_CORPUS", "/work/shared/corpus/containerpilot"))
SERVICE_FIELDS = ("ID", "Service", "Tags", "Address", "Port", "EnableTagOverride")
CHECK_FIELDS = ("CheckID", "ServiceID", "ServiceName", "Status")
ACCEPTED = {difference["field"] for difference in DATA["accepted_differences"]}
CHECKS_ACCEPTED = ("Name", "Notes", "Output")
FILES = DATA["files"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (CORPUS / "v3").is_dir(), reason=f"no corpus at {CORPUS}"),
]


def recorded(value: Any) -> Any:
    return json.loads(json.dumps(value).replace("{hostname}", sandbox.HOSTNAME))


def registered_as_recorded(box: sandbox.Sandbox, entry: dict[str, Any]) -> bool:
    services = box.get("/v1/agent/services") or {}
    checks = box.get("/v1/agent/checks") or {}
    want = recorded(entry["checks"])
    return services.keys() == recorded(entry["services"]).keys() and all(
        checks.get(name, {}).get("Status") == check["Status"] for name, check in want.items()
    )


def test_the_accepted_differences_are_those_checked() -> None:
    """Each accepted difference of the recording is checked below, none silently ignored."""
    assert {f"checks.*.{field}" for field in CHECKS_ACCEPTED} | {
        "services.containerpilot.Tags",
        "services.<a job whose program is missing>",
    } == ACCEPTED


def without_missing(entry: dict[str, Any], config: Path) -> dict[str, Any]:
    """The recording less the services (and their checks) of the jobs whose program the
    sandbox leaves missing: ContainerPilot advertised them, pilot does not (accepted)."""
    from pilot.config.containerpilot.detect import parse_rendered

    raw = parse_rendered(config.read_text(), sandbox.ENVIRON, config.name)
    missing = order.left_out(raw, entry["stubs"]["missing"])
    if not missing:
        return entry
    for name in missing:  # ContainerPilot did register them: the difference is real
        assert f"{name}-{{hostname}}" in entry["services"]
    services = {k: v for k, v in entry["services"].items() if v["Service"] not in missing}
    checks = {k: v for k, v in entry["checks"].items() if v["ServiceName"] not in missing}
    return {**entry, "services": services, "checks": checks}


def ran_with_containerpilot(file: str, config: Path) -> set[str]:
    """The jobs ContainerPilot started (corpus_order.json), less those a watch on a service
    pilot leaves out started."""
    from pilot.config.containerpilot.detect import parse_rendered

    entry = next(entry for entry in ORDER["files"] if entry["file"] == file)
    raw = parse_rendered(config.read_text(), sandbox.ENVIRON, config.name)
    only_cp = order.waiting_on(raw, order.left_out(raw, entry["stubs"]["missing"]))
    started = order.without(entry["before_sigterm"], only_cp)["events"]
    return {
        name
        for event in started
        if event.endswith(" start")
        for name in event.rsplit(" ", 1)[0].split("|")
    }


def judged(status: Any, ran: set[str]) -> bool:
    """Whether pilot ran every job of `ran` and has a health verdict on each service of a job
    that ran: past that, a service it would register is registered."""
    if not status:
        return False
    jobs = {job["name"]: job for job in status["jobs"]}
    return all(jobs.get(name, {}).get("runs") for name in ran) and all(
        service["status"] is not None
        for service in status["services"]
        if jobs.get(service["job"], {}).get("runs")
    )


def nothing_registered(box: sandbox.Sandbox, file: str, config: Path) -> None:
    """A file ContainerPilot registered nothing for matches as soon as pilot starts: so wait
    until pilot ran what ContainerPilot ran and judged its services' health, then check that
    pilot holds no registration and the registry has none."""
    ran = ran_with_containerpilot(file, config)
    wait_for(
        lambda: judged(box.control("/v1/status"), ran),
        60,
        message=f"pilot to run {sorted(ran)} and judge the health of its services",
    )
    status = box.control("/v1/status")
    assert [s["id"] for s in status["services"] if s["registered"]] == [], status
    assert box.get("/v1/agent/services") == {}


def without_version(service: dict[str, Any]) -> dict[str, Any]:
    """ContainerPilot's telemetry service, less the tag of its version (an accepted
    difference), which it adds last (a job called containerpilot has no such tag)."""
    if service["Service"] != "containerpilot" or service["Tags"][-1:] != ["3.8.0"]:
        return service
    return {**service, "Tags": service["Tags"][:-1]}


def check_accepted(field: str, name: str, cp: str, pilot: str) -> None:
    """A check field pilot fills differently on purpose, as docs/migrating.md says."""
    if field == "Name":
        assert (cp, pilot) == (f"Service '{name}' check", f"{name} health (pilot)")
    elif field == "Notes":
        assert (cp, pilot) == (f"TTL for {name} set by containerpilot", "")
    elif field == "Output":
        assert cp in ("ok", "") and isinstance(pilot, str)


@pytest.mark.parametrize("entry", FILES, ids=[entry["file"] for entry in FILES])
def test_pilot_registers_what_containerpilot_registered(
    entry: dict[str, Any], tmp_path: Path
) -> None:
    """The same services and checks, in the same states; none left after SIGTERM."""
    reason = sandbox.available()
    require(reason is None, str(reason))
    config = tmp_path / "containerpilot.json5"
    shutil.copy(CORPUS / "v3" / entry["file"], config)
    repo = {"PYTHONPATH": str(REPO)}
    env = {**os.environ, **repo}
    entry = without_missing(entry, config)
    with (
        sandbox.Sandbox(tmp_path, entry["stubs"]) as box,
        running(registry_argv(box), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ):
        wait_for(lambda: box.get("/v1/status/leader"), 30, message="the registry")
        argv = pilot_argv(box, config)
        log = tmp_path / "pilot.log"
        with open(log, "wb") as out, running(argv, cwd=tmp_path, env=box.environ(repo), stdout=out,
                                             stderr=out) as pilot:  # fmt: skip
            wait_for(
                lambda: registered_as_recorded(box, entry),
                60,
                message=f"what ContainerPilot registered\n{log.read_text()}",
            )
            services = box.get("/v1/agent/services")
            checks = box.get("/v1/agent/checks")
            for key, service in recorded(entry["services"]).items():
                got = {field: services[key].get(field) for field in SERVICE_FIELDS}
                want = without_version(service)
                assert got == {field: want.get(field) for field in SERVICE_FIELDS}
            for key, check in recorded(entry["checks"]).items():
                got = {field: checks[key].get(field) for field in CHECK_FIELDS}
                assert got == {field: check.get(field) for field in CHECK_FIELDS}
                for field in CHECKS_ACCEPTED:
                    check_accepted(
                        field, check["ServiceName"], check[field], checks[key].get(field, "")
                    )
            if not entry["services"]:
                nothing_registered(box, entry["file"], config)
            # A file whose services are all left out (cassandra's) matches at once, maybe
            # before pilot has its handlers: SIGTERM would then kill it outright.
            wait_for(lambda: handles(pilot.pid, signal.SIGTERM), 30, message="pilot started")
            pilot.send_signal(signal.SIGTERM)
            assert pilot.wait(30) == 0, log.read_text()
        assert sorted(box.get("/v1/agent/services") or {}) == recorded(entry["after_stop"])
