"""Configs near the 1 MiB cap read right (their timing is bench/config_size.py's), and the
JSON5 that configs write means the same through the fast path as through the json5 library."""

from __future__ import annotations

import json

import json5
import pytest

from pilot.config.errors import ConfigError
from pilot.config.json5_fast import to_json
from pilot.config.load import parse_config

JOB = '{name: "app", main: true, exec: ["true"]'
ENTRIES = 60_000  # about 1 MiB of `V1: "v1", `


def test_a_long_comment() -> None:
    config = parse_config("// " + "x" * 1_000_000 + "\n{jobs: [" + JOB + "}]}", {}, "c.json5")
    assert config.main_job.argv == ("true",)


def test_a_big_env_map() -> None:
    env = ", ".join(f'V{i}: "v{i}"' for i in range(ENTRIES))
    config = parse_config("{jobs: [" + JOB + ", env: {" + env + "}}]}", {}, "c.json5")
    assert dict(config.main_job.env) == {f"V{i}": f"v{i}" for i in range(ENTRIES)}


NUL_MESSAGE = "contains a NUL byte, which no path, argument or environment variable can hold"


def _big_env_config(mistakes: dict[int, str]) -> str:
    """jobs[2] with an env map of ENTRIES entries, those at the given indexes replaced."""
    env = [f'V{i}: "v{i}"' for i in range(ENTRIES)]
    for index, entry in mistakes.items():
        env[index] = entry
    jobs = '{name: "a", exec: "x"}, {name: "b", exec: "y"}, '
    return "{jobs: [" + jobs + JOB + ", env: {" + ", ".join(env) + "}}]}"


def _errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, {}, "c.json5")
    return [str(error) for error in info.value.errors]


@pytest.mark.parametrize(
    ("entry", "error"),
    [
        ('"B=AD": "x"', "jobs[2].env.B=AD: an environment variable name cannot contain '='"),
        ('"": "x"', "jobs[2].env.: must not be empty"),
        ('"B\\u0000": "x"', "jobs[2].env.B\0: " + NUL_MESSAGE),
        ("B: [1]", "jobs[2].env.B: must be a string or a number, not a list"),
        ("B: {}", "jobs[2].env.B: must be a string or a number, not an object"),
        ("B: null", "jobs[2].env.B: must be a string or a number, not null"),
        ('B: "a\\u0000b"', "jobs[2].env.B: " + NUL_MESSAGE),
        ("B: -Infinity", "jobs[2].env.B: must be a finite number, not -inf"),
        ("V7: 1", "jobs[2].env.V7: duplicate key: given more than once in this object"),
    ],
)
def test_one_mistake_deep_in_a_big_env_map_is_placed(entry: str, error: str) -> None:
    """A big map is checked in bulk; one mistake anywhere in it is still found and placed."""
    assert _errors(_big_env_config({45_000: entry})) == [error]


def test_mistakes_deep_in_a_big_env_map_are_each_placed() -> None:
    text = _big_env_config({31_000: '"B=AD": "x"', 45_000: "B: [1]", 59_000: 'C: "\\u0000"'})
    assert _errors(text) == [
        "jobs[2].env.B=AD: an environment variable name cannot contain '='",
        "jobs[2].env.B: must be a string or a number, not a list",
        "jobs[2].env.C: " + NUL_MESSAGE,
    ]


def test_the_errors_of_a_big_map_hold_no_frames() -> None:
    """Each error is kept without its traceback: with it, each would hold the frames that
    hold the list of errors, and 60,000 such cycles took the garbage collector seconds."""
    env = ", ".join(f"V{i}: null" for i in range(ENTRIES))
    with pytest.raises(ConfigError) as info:
        parse_config("{jobs: [" + JOB + ", env: {" + env + "}}]}", {}, "c.json5")
    assert len(info.value.errors) == ENTRIES
    assert all(error.__traceback__ is None for error in info.value.errors)


def test_numbers_and_booleans_in_a_big_env_map_become_text() -> None:
    env = ", ".join(f"V{i}: {i}" for i in range(ENTRIES)) + ", T: true, F: 1.5"
    config = parse_config("{jobs: [" + JOB + ", env: {" + env + "}}]}", {}, "c.json5")
    assert dict(config.main_job.env) == {f"V{i}": str(i) for i in range(ENTRIES)} | {
        "T": "true",
        "F": "1.5",
    }


def test_a_long_string() -> None:
    text = '{jobs: [{name: "app", main: true, exec: ["echo", "' + "y" * 1_000_000 + '"]}]}'
    assert parse_config(text, {}, "c.json5").main_job.argv == ("echo", "y" * 1_000_000)


def test_much_json5_with_substitutions() -> None:
    lines = "".join(f"  // {i}\n  v{i}: 'it\\'s ${{HOME}}', /* x */\n" for i in range(20_000))
    config = parse_config("{jobs: [" + JOB + ", env: {\n" + lines + "}}]}", {"HOME": "/h"}, "c")
    assert dict(config.main_job.env) == {f"v{i}": "it's /h" for i in range(20_000)}


def test_a_syntax_error_in_a_large_file_names_its_line() -> None:
    text = "// " + "x" * 1_000_000 + "\n{jobs: [" + JOB + "}]\n"
    with pytest.raises(ConfigError) as error:
        parse_config(text, {}, "c.json5")
    assert str(error.value).startswith("c.json5:3: syntax error")


SAMPLES = [
    "{a: 1, b: 'x\"y\\'z', c: [1,2,], // hi\n d: /* x\n y */ null,}",
    '{"a": -0, b: 1e5, c: true, d: false}',
    "{a: .5, b: 5., c: +1, d: 0x1F, e: -0x10, f: Infinity, g: -Infinity, h: 1.5E3, i: 5.e2}",
    "{j: 1.25, k: -3, l: +Infinity, m: -NaN, n: +.5, o: 1e-5, p: -1.5e+3, q: [1.5, 10.25]}",
    "{s: 'a\\x41\\v\\0\\\nb\\q\\u0042', t: \"tab\\there\", u: 'a\"b'}",
    "{s: 'it\\'s \\\\ \\n \\u0041 \\/ \\\\\\'', t: '\\\\', u: 'a\\tb\\'\\'c'}",
    "{ü: 1, $x: 2, _y: 3, true: 1, Infinity: 2, v0x1: 3, NaN: 4, 'q\"k': 5}",
    "[1, 2, 3,]",
    "'str'",
    "{a: [],}",
    "{a:\u00a01,\u2028b: 2}",
    "{a: 'x, ]', b: \"/* not a comment */\", c: '// nor this'}",
    '{a: "q" /* , */ , }',
    "[true, false, null]",
    "{a : 1, 'b': 2, \"c\" : 3, d\n:4}",
    "{a: [1,\n// c\n]}",
    "{/*c*/k: 1, // x\n m: 2}",
]


@pytest.mark.parametrize("text", SAMPLES)
def test_the_fast_path_reads_json5_as_the_library_does(text: str) -> None:
    fast = json.loads(to_json(text) or "", strict=False)
    assert repr(fast) == repr(json5.loads(text))


@pytest.mark.parametrize("text", ["{a: 01}", "{a: [1 2]}", "{a: 1", "{a: 1,,}", "[NaN x]"])
def test_what_the_library_refuses_the_fast_path_does_not_read(text: str) -> None:
    with pytest.raises(ValueError):
        json5.loads(text)
    with pytest.raises(ValueError):
        json.loads(to_json(text) or "", strict=False)


@pytest.mark.parametrize("number", ["1" * 5000, "-0x" + "f" * 4000], ids=["decimal", "hex"])
def test_a_number_too_long_to_convert_is_a_placed_error(number: str) -> None:
    """Python refuses to convert an integer of more than 4300 digits: an error, not a crash."""
    text = "{jobs: [" + JOB + ",\n env: {A: " + number + "}}]}"
    assert _errors(text) == ["c.json5:2: syntax error: a number of more than 4300 digits"]
