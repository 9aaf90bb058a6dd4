"""The parts of `pilot up` that need no process: automatic ports in the config, the refusals
of `pilot run`, kept ports, and the per-job log buffer."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from pilot.config.errors import ConfigError
from pilot.config.load import parse_config
from pilot.config.ports_kind import AUTO_PORT, Port
from pilot.process.logbuffer import LogBuffer
from pilot.up.ports import PortState

STACK = """{ jobs: [
  { name: "api", exec: "api", port: "auto", build: "make api", watch: { paths: "src" } },
  { name: "web", exec: "web", port: 8080, health: { http: "http://127.0.0.1:8080/" } },
], remote: { consul: "http://staging:8500", services: ["billing"] } }"""


def test_pilot_run_refuses_what_only_pilot_up_does() -> None:
    """`pilot run` names each setting that only `pilot up` can run, and wants a main job."""
    with pytest.raises(ConfigError) as caught:
        parse_config(STACK, {})
    messages = [str(error) for error in caught.value.errors]
    assert 'jobs[0].port: "auto" is for pilot up; give the port' in messages
    assert "jobs[0].watch: is for pilot up" in messages
    assert "remote: is for pilot up" in messages
    assert any("which job is the main one" in message for message in messages)


def test_pilot_up_fills_in_ports_registry_loopback_and_checks() -> None:
    """Under `pilot up` an auto port comes from the allocator, the registry is embedded with
    DNS, and a job without health or interfaces is checked over TCP on loopback."""
    given = {"api": 40001, "@consul": 40002, "@dns": 40003}
    config = parse_config(STACK, {}, "/src/pilot.json5", up=lambda key, _place: given[key])
    api, web = config.jobs
    assert api.port == 40001 and api.interfaces == ("static:127.0.0.1",)
    assert api.health is not None and api.health.tcp == "127.0.0.1:40001"
    assert api.build == ("make", "api") and api.watch is not None
    assert web.port == 8080 and web.health is not None and web.health.http is not None
    assert (config.consul.address, config.consul.listen, config.consul.dns) == (
        "embedded",
        "127.0.0.1:40002",
        "127.0.0.1:40003",
    )


def test_auto_port_prints_as_auto() -> None:
    """`pilot validate --print` shows an automatic port as "auto"."""
    with pytest.raises(ConfigError):
        parse_config('{jobs: [{name: "a", exec: "a", port: "nope"}]}', {})
    assert Port().dump(AUTO_PORT) == "auto" and Port().parse("auto", "p") == AUTO_PORT


def test_kept_ports_are_reused_and_a_taken_one_names_its_holder(tmp_path: Path) -> None:
    """A port is picked once and read back by the next stack; a kept port that another
    process holds is an error naming that process."""
    state = PortState(str(tmp_path / ".pilot"))
    port = state.allocate("api", "jobs[0].port")
    assert state.allocate("api", "jobs[0].port") == port  # a reload: still ours
    assert json.loads((tmp_path / ".pilot" / "ports.json").read_text()) == {"api": port}
    assert PortState(str(tmp_path / ".pilot")).allocate("api", "x") == port
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        with pytest.raises(ConfigError) as caught:
            PortState(str(tmp_path / ".pilot")).allocate("api", "jobs[0].port")
    assert f"port {port}, kept for api" in str(caught.value)
    assert f"process {os.getpid()}" in str(caught.value)


def test_log_buffer_filters_by_job_number_age_and_count() -> None:
    """Lines come back in order across jobs, after a number, since a time, the last N."""
    buffer = LogBuffer(lines_per_job=3)
    for i in range(5):
        buffer.add("api", "stdout", f"api {i}")
        buffer.add("web", "stderr", f"web {i}")
    assert [line.text for line in buffer.lines(["api"])] == ["api 2", "api 3", "api 4"]
    assert [line.text for line in buffer.lines(last=2)] == ["api 4", "web 4"]
    assert buffer.lines(["api"], last=0) == []
    assert [line.text for line in buffer.lines(["web"], after=buffer.feed.last - 2)] == ["web 4"]
    assert buffer.lines(since=buffer.lines()[-1].time + 60) == []


def test_log_buffer_bounds_the_text_kept_per_job() -> None:
    """Long lines are kept up to the byte bound: the oldest go first, the newest always stays."""
    buffer = LogBuffer(lines_per_job=100, bytes_per_job=250)
    for i in range(5):
        buffer.add("api", "stdout", f"{i}" * 100)
    assert [line.text[0] for line in buffer.lines()] == ["3", "4"]
    buffer.add("api", "stdout", "x" * 1000)
    assert [line.text[0] for line in buffer.lines()] == ["x"]


@pytest.mark.parametrize(
    ("content", "place", "says"),
    [
        (b'{"api": 10001,\n "web" 3}', "ports.json:2:8", "Expecting ':' delimiter"),
        (b'{"api": "x"}', "ports.json: 'api'", "'x' is not a port"),
        (b"[10001]", "ports.json", "must hold one object"),
        (b"\xff\xfe", "ports.json", "cannot be read"),
    ],
)
def test_a_bad_kept_ports_file_is_named_with_its_place(
    tmp_path: Path, content: bytes, place: str, says: str
) -> None:
    state_dir = tmp_path / ".pilot"
    state_dir.mkdir()
    (state_dir / "ports.json").write_bytes(content)
    with pytest.raises(ConfigError) as caught:
        PortState(str(state_dir))
    assert caught.value.place.endswith(place)
    assert says in caught.value.message and "delete it to pick new ports" in caught.value.message
