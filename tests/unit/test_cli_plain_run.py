"""`pilot run -c PATH` is read without argparse (pilot/cli/pilot.py, `_plain_run`): it must
mean what argparse makes of it, and leave every other form to argparse."""

from __future__ import annotations

import pytest

from pilot.cli.pilot import COMMANDS, _parser, _plain_run

PLAIN = [
    ["run", "-c", "pilot.json5"],
    ["run", "--config", "/etc/pilot.json5"],
    ["-c", "a b.json5"],
    ["--config", "x"],
]
OTHERS = [
    ["run"],
    ["run", "-c", "-"],
    ["run", "-cfile"],
    ["run", "--config=x"],
    ["run", "-c", "x", "-c", "y"],
    ["run", "-h"],
    ["validate", "-c", "x"],
    ["up", "-c", "x"],
    ["-c"],
    [],
]


@pytest.mark.parametrize("args", PLAIN, ids=" ".join)
def test_the_plain_forms_mean_what_argparse_reads(args: list[str]) -> None:
    full = args if args[0] in COMMANDS else ["run", *args]
    parsed = _parser().parse_args(full)
    assert (parsed.command, _plain_run(args)) == ("run", parsed.config)


@pytest.mark.parametrize("args", OTHERS, ids=lambda args: " ".join(args) or "nothing")
def test_every_other_form_is_left_to_argparse(args: list[str]) -> None:
    assert _plain_run(args) is None
