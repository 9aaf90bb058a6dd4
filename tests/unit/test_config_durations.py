"""Durations and numbers: finite, within sane bounds, each refusal placed."""

from __future__ import annotations

import pytest

from pilot.config.errors import ConfigError
from pilot.config.load import parse_config

CONSUL_JOB = '{name: "a", exec: "x", port: 80, health: {tcp: "h:1", %s}}'


def place_of(text: str) -> str:
    """The place of the one error loading `text` gives."""
    with pytest.raises(ConfigError) as info:
        parse_config(text, {}, "pilot.json5")
    assert len(info.value.errors) == 1, info.value
    return info.value.place


@pytest.mark.parametrize(
    "value", ["NaN", "Infinity", "-Infinity", pytest.param('"' + "9" * 400 + '"', id="overflow")]
)
@pytest.mark.parametrize(
    ("fragment", "place"),
    [
        ('jobs: [{name: "a", exec: "x"}], stop_timeout: %s', "stop_timeout"),
        ('jobs: [{name: "a", exec: "x", stop: {timeout: %s}}]', "jobs[0].stop.timeout"),
        ('jobs: [{name: "a", exec: "x", when: {interval: %s}}]', "jobs[0].when.interval"),
        ('jobs: [{name: "a", exec: "x", backoff: {max: %s}}]', "jobs[0].backoff.max"),
        ('jobs: [{name: "a", exec: "x", drain: %s}]', "jobs[0].drain"),
    ],
)
def test_non_finite_durations_are_refused(fragment: str, place: str, value: str) -> None:
    """NaN and Infinity (and digits that overflow to it) are no duration anywhere."""
    assert place_of("{" + fragment % value + "}") == place


@pytest.mark.parametrize("value", ["NaN", "Infinity"])
def test_non_finite_numbers_are_refused_in_env(value: str) -> None:
    """An env value of NaN or Infinity is refused rather than passed on as "nan"."""
    text = '{jobs: [{name: "a", exec: "x", env: {N: ' + value + "}}]}"
    assert place_of(text) == "jobs[0].env.N"


@pytest.mark.parametrize(
    ("fragment", "place"),
    [
        ('jobs: [{name: "a", exec: "x", when: {interval: "1ns"}}]', "jobs[0].when.interval"),
        ('jobs: [{name: "a", exec: "x", when: {interval: "99ms"}}]', "jobs[0].when.interval"),
        (
            'consul: "h:1", jobs: [' + CONSUL_JOB % 'interval: "1ms"' + "]",
            "jobs[0].health.interval",
        ),
        ('consul: "h:1", jobs: [' + CONSUL_JOB % 'ttl: "500ms"' + "]", "jobs[0].health.ttl"),
        (
            'jobs: [{name: "a", exec: "x"}], watches: [{name: "w", key: "k", wait: "1ns"}]',
            "watches[0].wait",
        ),
        (
            'jobs: [{name: "a", exec: "x"}], watches: [{name: "w", key: "k", wait: "11m"}]',
            "watches[0].wait",
        ),
        ('jobs: [{name: "a", exec: "x", stop: {timeout: "8761h"}}]', "jobs[0].stop.timeout"),
        (
            'jobs: [{name: "a", exec: "x", restarts: "unlimited", backoff: {initial: "1ns"}}]',
            "jobs[0].backoff.initial",
        ),
        (
            'jobs: [{name: "a", exec: "x", backoff: {initial: "2s", max: "1s"}}]',
            "jobs[0].backoff.max",
        ),
    ],
)
def test_durations_below_their_minimum_are_refused(fragment: str, place: str) -> None:
    """Intervals under 100ms, a ttl under 1s, a watch wait outside 1s-10m, a duration over a
    year, an unlimited restart with no backoff: each a placed error."""
    assert place_of("{" + fragment + "}") == place


def test_the_minimums_themselves_are_accepted() -> None:
    """100ms intervals, a 1s ttl, 1s and 10m waits and a finite restart count with no backoff
    are fine."""
    config = parse_config(
        '{consul: "h:1", jobs: ['
        + CONSUL_JOB % 'interval: "100ms", ttl: "1s"'
        + ', {name: "b", exec: "y", when: {interval: "100ms"}},'
        ' {name: "c", exec: "z", restarts: 2, backoff: {initial: "0s"}}],'
        ' watches: [{name: "w", key: "k", wait: "1s"}, {name: "v", key: "k", wait: "10m"}]}',
        {},
    )
    assert config.job("b").when.interval == 0.1 and config.watches[1].wait == 600
