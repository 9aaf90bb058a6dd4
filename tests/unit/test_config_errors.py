"""Every mistake of a config in one run, each placed; input that used to fail only at run time
(duplicate keys, NUL bytes, '=' in a variable name) is refused at load."""

from __future__ import annotations

from pathlib import Path

import pytest

from pilot.config.errors import ConfigError
from pilot.config.load import parse_config


def errors_of(text: str) -> list[tuple[str, str]]:
    """(place, message) of every error loading `text` gives, in order."""
    with pytest.raises(ConfigError) as info:
        parse_config(text, {}, "pilot.json5")
    return [(error.place, error.message) for error in info.value.errors]


def test_four_mistakes_are_reported_in_one_run() -> None:
    """A wrong type, a misspelt key (so exec is missing), a bad duration and an unknown event
    source: all reported at once, in the order of the file."""
    text = """{jobs: [
        {name: "a", main: "yes", exec: "x"},
        {name: "b", exce: "y"},
        {name: "c", exec: "z", stop: {timeout: "soon"}},
        {name: "d", exec: "w", when: {source: "nope", once: "started"}},
    ]}"""
    places = [place for place, _ in errors_of(text)]
    assert places == [
        "jobs[0].main",
        "jobs[1].exce",
        "jobs[1].exec",
        "jobs[2].stop.timeout",
        "jobs[3].when.source",
    ]


def test_a_follow_on_error_is_not_reported() -> None:
    """A check across fields is skipped where a value it reads was already wrong: a bad `main`
    does not also ask which job is the main one."""
    text = '{jobs: [{name: "a", exec: "x", main: "yes"}, {name: "b", exec: "y"}]}'
    assert [place for place, _ in errors_of(text)] == ["jobs[0].main"]


def test_duplicate_keys_are_placed() -> None:
    """A key given twice in one object is an error at its place (json5 alone keeps the last)."""
    text = """{jobs: [{name: "a", exec: "x", stop: {timeout: "1s", timeout: "2s"}}],
               logging: {level: "info"}, logging: {level: "debug"}}"""
    message = "duplicate key: given more than once in this object"
    assert errors_of(text) == [("jobs[0].stop.timeout", message), ("logging", message)]


def test_duplicate_keys_in_free_maps_are_placed() -> None:
    """Duplicates in env (a map with free keys) are errors too."""
    text = '{jobs: [{name: "a", exec: "x", env: {A: "1", A: "2"}}]}'
    assert [place for place, _ in errors_of(text)] == ["jobs[0].env.A"]


@pytest.mark.parametrize(
    ("job", "place"),
    [
        ('exec: ["x", "a\\u0000b"]', "jobs[0].exec"),
        ('exec: "x a\\u0000b"', "jobs[0].exec"),
        ('exec: "x", env: {A: "a\\u0000b"}', "jobs[0].env.A"),
        ('exec: "x", env: {"A\\u0000": "1"}', "jobs[0].env.A\0"),
        ('exec: "x", cwd: "/tmp\\u0000"', "jobs[0].cwd"),
        ('exec: "x", user: "ro\\u0000ot"', "jobs[0].user"),
    ],
)
def test_nul_bytes_are_refused_where_they_would_reach_exec(job: str, place: str) -> None:
    """A NUL byte in argv, the environment or a path is a placed error, not a crash at start."""
    assert [p for p, _ in errors_of('{jobs: [{name: "a", ' + job + "}]}")] == [place]


def test_env_names_with_equals_are_refused() -> None:
    """`A=B` as a variable name would be split by execve: a placed error."""
    text = '{jobs: [{name: "a", exec: "x", env: {"A=B": "1", "": "2"}}]}'
    assert [place for place, _ in errors_of(text)] == ["jobs[0].env.A=B", "jobs[0].env."]


@pytest.mark.parametrize(
    ("fragment", "place"),
    [
        ('consul: "h:99999"', "consul.address"),
        ('consul: {address: "embedded", listen: "h:65536"}', "consul.listen"),
        (
            'consul: "h:1", jobs: [{name: "a", exec: "x", port: 80, health: {tcp: "h:0"}}]',
            "jobs[0].health.tcp",
        ),
        (
            'consul: "h:1", jobs: [{name: "a", exec: "x", port: 80,'
            ' health: {http: "http://h:70000/"}}]',
            "jobs[0].health.http",
        ),
        ('telemetry: {interfaces: ["eth0:inet7"]}', "telemetry.interfaces[0]"),
        ('control: {socket: "/tmp/' + "s" * 120 + '"}', "control.socket"),
        (
            'consul: "h:1", templates: [{contents: "x", dest: "/tmp/t", owner: "nobody:no-such"}]',
            "templates[0].owner",
        ),
    ],
)
def test_values_that_would_fail_at_run_time_are_refused_at_load(fragment: str, place: str) -> None:
    """Ports out of range, a telemetry interface spec that cannot resolve, a socket path too
    long for a unix socket, a template owner that does not exist: placed errors at load."""
    if "jobs" not in fragment:
        fragment += ', jobs: [{name: "a", exec: "x"}]'
    assert [p for p, _ in errors_of("{" + fragment + "}")] == [place]


def test_a_template_dest_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    """A template `dest` that is or names a directory is a placed error at load, once."""
    text = (
        '{consul: "h:1", jobs: [{name: "a", exec: "x"}], templates: ['
        f'{{contents: "x", dest: "{tmp_path}"}}, {{contents: "y", dest: "{tmp_path}/x/"}}]}}'
    )
    assert [p for p, _ in errors_of(text)] == ["templates[0].dest", "templates[1].dest"]
