"""How the corpus order parity reads the stubs' log (tests/cpparity/order.py): which events
count, which orders ContainerPilot makes, and which a run breaks."""

from __future__ import annotations

from typing import Any

from tests.cpparity import order

RAW: dict[str, Any] = {
    "jobs": [
        {"name": "setup", "exec": "setup.sh"},
        {"name": "app", "exec": ["app", "-f"], "port": 80, "when": {"source": "setup",
         "once": "exitSuccess"}, "health": {"exec": "check app", "interval": 5, "ttl": 10}},
        {"name": "side", "exec": "app -f", "when": {"source": "setup", "once": "exitSuccess"}},
        {"name": "preStop", "exec": "leave", "when": {"source": "app", "once": "stopping"}},
        {"name": "tick", "exec": "tick", "when": {"interval": "5s"}},
        {"name": "onChange", "exec": "reload", "when": {"source": "watch.app", "each": "changed"}},
    ],
}  # fmt: skip


def log(*lines: str) -> str:
    return "".join(f"{i}.0 {line}\n" for i, line in enumerate(lines))


def test_jobs_that_run_the_same_line_share_a_label_and_checks_are_not_jobs() -> None:
    assert order.labels(RAW) == {
        "setup.sh": "setup",
        "app -f": "app|side",
        "leave": "preStop",
        "tick": "tick",
        "reload": "onChange",
    }


def test_an_event_counts_once_per_phase_and_a_shared_line_once_all_its_jobs_did_it() -> None:
    text = log(
        "start setup.sh", "start tick", "exit tick", "exit setup.sh", "start app -f",
        "start check app", "exit check app", "start tick", "start app -f", "SIGTERM -",
        "exit tick", "start leave", "exit leave", "stop app -f", "stop app -f",
    )  # fmt: skip
    before, after = order.phases(text, RAW)
    assert before == ["setup start", "tick start", "tick exit", "setup exit", "app|side start"]
    assert after == ["preStop start", "preStop exit", "app|side stop"]  # tick's run was going


def test_lines_are_placed_by_their_time_not_by_when_they_were_written() -> None:
    text = "2.0 SIGTERM -\n1.0 start setup.sh\n3.0 start leave\n"
    assert order.phases(text, RAW) == (["setup start"], ["preStop start"])


def test_containerpilot_orders_when_chains_watches_and_stopping_hooks() -> None:
    before = ["setup start", "setup exit", "app|side start", "onChange start", "tick start"]
    assert order.edges(RAW, before, after_sigterm=False) == [
        ["setup exit", "app|side start"],
        ["app|side start", "onChange start"],
    ]
    after = ["preStop start", "preStop exit", "app|side stop"]
    assert order.edges(RAW, after, after_sigterm=True) == [
        ["preStop start", "app|side stop"],
        ["preStop exit", "app|side stop"],
    ]
    assert order.together(RAW, before, after_sigterm=False) == [["setup start", "tick start"]]


def test_a_run_breaks_a_pair_it_reverses_or_misses() -> None:
    pairs = [["setup exit", "app|side start"]]
    assert order.broken(pairs, ["setup exit", "app|side start"]) == []
    assert order.broken(pairs, ["app|side start", "setup exit"]) == pairs
    assert order.broken(pairs, ["setup exit"]) == pairs


def test_jobs_waiting_on_a_left_out_service_ran_with_containerpilot_only() -> None:
    raw = {"jobs": [*RAW["jobs"][:1], {**RAW["jobs"][1], "exec": "/missing"}, *RAW["jobs"][5:]]}
    assert order.left_out(raw, ["/missing"]) == {"app"}
    assert order.waiting_on(raw, {"app"}) == {"onChange"}
    phase = {"events": ["setup start", "onChange start"], "order": [["setup start",
             "onChange start"]]}  # fmt: skip
    assert order.without(phase, {"onChange"}) == {"events": ["setup start"], "order": []}
