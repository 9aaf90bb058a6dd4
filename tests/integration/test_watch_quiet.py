"""A watch on a registry nobody writes to reports its first answer once, then stays quiet."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import Pilot, Registry, holds, read_lines, wait_for

POLL_WAIT = "1s"  # the watch's blocking wait (its floor): a long-poll cycle every ~1 s
QUIET_POLLS = 3  # long polls that must come and go with nothing reported
# the registry's request log at debug level: consul-dev writes "GET <url> -> <status>", real
# Consul "Request finished: method=GET url=<url> ..."
LOGGED_GET = r"(?:GET |method=GET url=)"


def blocking_polls(registry: Registry, path: str) -> int:
    """How many blocking queries (`index=` > 0) on `path` the registry has answered."""
    assert registry.log is not None
    pattern = re.compile(rf"{LOGGED_GET}{re.escape(path)}\?\S*index=[1-9]")
    return sum(1 for line in read_lines(registry.log) if pattern.search(line))


@pytest.fixture
def logged_registry(tmp_path: Path) -> Iterator[Registry]:
    """A registry (real Consul when one is given, else consul-dev) whose request log the test
    reads, so it can count the long polls."""
    instance = Registry(log=tmp_path / "registry.log")
    yield instance
    instance.stop()


def watch_config(registry: str, changes: Path, spec: dict[str, str]) -> dict[str, object]:
    """A pilot with watch `w` (`spec`) and a job that appends a line to `changes` on each
    `changed` of it."""
    return {
        "consul": registry,
        "jobs": [
            {"name": "main", "main": True, "exec": ["sleep", "300"]},
            {
                "name": "on-change",
                "exec": ["sh", "-c", f"echo changed >> {changes}"],
                "when": {"source": "watch.w", "each": "changed"},
            },
        ],
        "watches": [{"name": "w", "wait": POLL_WAIT, **spec}],
    }


def updates(p: Pilot) -> int:
    """The watch's count of answers (0 while the control socket is not up)."""
    try:
        return int(p.status()["watches"][0]["updates"])
    except OSError:
        return 0


WATCHES = {
    "key": ({"key": "cfg/flag"}, "/v1/kv/cfg/flag"),
    "prefix": ({"prefix": "cfg/"}, "/v1/kv/cfg/"),
    "service": ({"service": "app"}, "/v1/health/service/app"),
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(WATCHES))
def test_watch_reports_its_first_answer_once_while_nothing_changes(
    kind: str, pilot: Callable[..., Pilot], logged_registry: Registry, tmp_path: Path
) -> None:
    """Over several long polls with no write to the registry, a watch has exactly one answer
    (its `updates` count) and emits `changed` exactly once."""
    logged_registry.put("/v1/kv/cfg/flag", "on")
    logged_registry.put(
        "/v1/agent/service/register",
        {"Name": "app", "ID": "app-1", "Address": "10.0.0.1", "Port": 80},
    )
    spec, path = WATCHES[kind]
    changes = tmp_path / "changes"
    p = pilot(watch_config(logged_registry.address, changes, spec))

    wait_for(lambda: updates(p) >= 1, 10, message=f"the watch's first answer\n{p.output}")
    wait_for(lambda: read_lines(changes), 5, message=f"the job run by `changed`\n{p.output}")
    first_poll = blocking_polls(logged_registry, path)
    samples: list[tuple[int, int, int]] = []

    def quiet_for_enough_polls() -> bool:
        polls = blocking_polls(logged_registry, path) - first_poll
        samples.append((polls, updates(p), len(read_lines(changes))))
        assert samples[-1][1:] == (1, 1), (
            f"after {polls} quiet long polls the watch has {samples[-1][1]} answers and "
            f"`changed` ran {samples[-1][2]} times (want 1 and 1)\n{p.output}"
        )
        return polls >= QUIET_POLLS

    wait_for(quiet_for_enough_polls, 15, interval=0.05, message=f"{QUIET_POLLS} long polls")
    assert read_lines(changes) == ["changed"]


def test_a_new_answer_with_the_same_content_emits_no_changed(
    pilot: Callable[..., Pilot], logged_registry: Registry, tmp_path: Path
) -> None:
    """A write that leaves a key watch's content as it was is a new answer but no `changed`."""
    logged_registry.put("/v1/kv/cfg/flag", "on")
    changes = tmp_path / "changes"
    p = pilot(watch_config(logged_registry.address, changes, {"key": "cfg/flag"}))

    wait_for(lambda: updates(p) == 1, 10, message=f"the watch's first answer\n{p.output}")
    wait_for(lambda: read_lines(changes), 5, message=f"the job run by `changed`\n{p.output}")
    logged_registry.put("/v1/kv/cfg/flag?flags=7", "on")  # a new ModifyIndex, the same value
    wait_for(lambda: updates(p) == 2, 5, message="the watch's second answer")
    holds(
        lambda: updates(p) == 2 and read_lines(changes) == ["changed"],
        0.7,
        message="one answer more and still one `changed`",
    )
    logged_registry.put("/v1/kv/cfg/flag", "off")  # then a real change, which must run the job
    wait_for(lambda: updates(p) == 3, 5, message="the watch's third answer")
    wait_for(lambda: len(read_lines(changes)) == 2, 5, message="`changed` for the new value")
    assert read_lines(changes) == ["changed", "changed"], "one `changed` per new content"
