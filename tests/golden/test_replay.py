"""Replay every golden scenario against `pilot consul-dev` and compare each step with what
real Consul 1.10.3 answered (tests/golden/transcripts/). Known differences are listed in
differences.json5: accepted ones are left out of the comparison by path, bugs are strict
expected failures, so a fix shows up as an XPASS."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import json5
import pytest

from tests.golden.agents import start_consul_dev
from tests.golden.driver import run_scenario
from tests.golden.normalise import (
    differences,
    elapsed_differences,
    normalise,
    order_differences,
)
from tests.golden.scenarios import SCENARIOS

HERE = Path(__file__).parent
TRANSCRIPTS = {p.stem: json.loads(p.read_text()) for p in sorted(HERE.glob("transcripts/*.json"))}
BY_NAME = {s["name"]: s for s in SCENARIOS}
KNOWN: list[dict[str, Any]] = json5.loads((HERE / "differences.json5").read_text())


def known(scenario: str, step: str) -> list[dict[str, Any]]:
    return [d for d in KNOWN if d["scenario"] == scenario and d["step"] == step]


def cases() -> Iterator[Any]:
    for name, transcript in TRANSCRIPTS.items():
        # A slow scenario runs whole in its first step (Consul reaps after 1 to 2 minutes).
        slow = [pytest.mark.slow, pytest.mark.timeout(300)]
        marks: list[Any] = slow if BY_NAME[name].get("slow") else []
        for step in transcript["steps"]:
            bugs = [d for d in known(name, step["name"]) if d["judgement"] == "bug in consul-dev"]
            step_marks = list(marks)
            if bugs:
                reason = "; ".join(d["what"] for d in bugs)
                step_marks.append(pytest.mark.xfail(reason=reason, strict=True))
            yield pytest.param(name, step["name"], marks=step_marks, id=f"{name}/{step['name']}")


@pytest.fixture(scope="module")
def replay() -> Iterator[Callable[[str], list[dict[str, Any]]]]:
    """consul-dev's answers to a scenario, each scenario run once on a fresh consul-dev."""
    done: dict[str, list[dict[str, Any]]] = {}

    def run(name: str) -> list[dict[str, Any]]:
        if name not in done:
            agent = start_consul_dev()
            try:
                done[name] = run_scenario(BY_NAME[name], agent.http, agent.dns)
            finally:
                agent.stop()
        return done[name]

    yield run


def test_transcripts_match_the_scenarios() -> None:
    """Every scenario has a transcript with the same steps (re-record after changing one)."""
    assert sorted(TRANSCRIPTS) == sorted(BY_NAME)
    for name, transcript in TRANSCRIPTS.items():
        assert transcript["consul_version"] == "1.10.3"
        steps = [s["name"] for s in BY_NAME[name]["steps"] if "name" in s]
        recorded = [s["name"] for s in transcript["steps"]]
        assert sorted(recorded) == sorted(steps), name


def test_known_differences_name_real_steps() -> None:
    for entry in KNOWN:
        names = [s["name"] for s in TRANSCRIPTS[entry["scenario"]]["steps"]]
        assert entry["step"] in names, entry
        judgement = entry["judgement"]
        assert judgement == "bug in consul-dev" or judgement.startswith("accepted: "), entry


@pytest.mark.parametrize(("scenario", "step"), list(cases()))
def test_step_matches_consul(
    replay: Callable[[str], list[dict[str, Any]]], scenario: str, step: str
) -> None:
    transcript = TRANSCRIPTS[scenario]
    defined = [s for s in BY_NAME[scenario]["steps"] if "name" in s]
    modes = {s["name"]: s.get("compare", "full") for s in defined}
    orders = {s["name"]: s["order"] for s in defined if "order" in s}
    answered = replay(scenario)
    expected = normalise(transcript["steps"], modes, orders)
    actual = normalise(answered, modes, orders)
    assert step in actual, f"consul-dev's run has no step {step}"
    found = differences(expected[step], actual[step])
    recorded = next(s for s in transcript["steps"] if s["name"] == step)
    replayed = next(s for s in answered if s["name"] == step)
    found += elapsed_differences(recorded, replayed)
    if step in orders:
        assert not order_differences(recorded, orders[step]), "the transcript itself"
        found += order_differences(replayed, orders[step])
    accepted = [p for d in known(scenario, step) if d["judgement"] != "bug in consul-dev"
                for p in d.get("paths", [])]
    remaining = [f for f in found if not any(f.startswith(p) for p in accepted)]
    assert not remaining, "\n".join(remaining)
