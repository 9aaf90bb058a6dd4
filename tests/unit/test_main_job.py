"""Which job is the main one (DESIGN.md): the marked one, else the only job with a port, else
the only job; anything else is rejected asking for main: true."""

from __future__ import annotations

import pytest

from pilot.config.errors import ConfigError
from pilot.config.load import parse_config


def test_the_only_job_with_a_port_is_main() -> None:
    config = parse_config(
        '{jobs: [{name: "setup", exec: "x"}, {name: "web", exec: "y", port: 80,'
        ' health: {tcp: "127.0.0.1:80", interval: "5s"}}, {name: "cron", exec: "z"}]}',
        {},
    )
    assert config.main_job.name == "web"


def test_two_jobs_with_ports_and_none_marked_is_ambiguous() -> None:
    health = 'health: {tcp: "127.0.0.1:80", interval: "5s"}'
    with pytest.raises(ConfigError) as info:
        parse_config(
            f'{{jobs: [{{name: "a", exec: "x", port: 80, {health}}},'
            f' {{name: "b", exec: "y", port: 81, {health}}}]}}',
            {},
        )
    assert info.value.place == "jobs" and "main: true" in info.value.message


def test_a_marked_job_wins_over_the_one_with_a_port() -> None:
    config = parse_config(
        '{jobs: [{name: "app", exec: "x", main: true}, {name: "web", exec: "y", port: 80,'
        ' health: {tcp: "127.0.0.1:80", interval: "5s"}}]}',
        {},
    )
    assert config.main_job.name == "app"
