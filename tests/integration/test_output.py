"""Job output: prefixed lines, nothing lost at exit, raw bytes untouched, JSON when asked."""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.helpers import Pilot, python_job


def test_last_line_before_exit_is_logged(pilot: Callable[..., Pilot]) -> None:
    """The last line a job prints before exiting, even without a newline, is in pilot's output."""
    p = pilot({"jobs": [{"name": "app", "exec": ["sh", "-c", "echo first; printf 'the end'"]}]})
    assert p.wait() == 0
    lines = p.raw("stdout").decode().splitlines()
    assert lines[-1].endswith("app   | the end"), lines
    assert any(line.endswith("app   | first") for line in lines)


def test_burst_of_output_at_exit_is_complete(pilot: Callable[..., Pilot]) -> None:
    """20 000 lines written just before exit all reach pilot's output, in order."""
    job = python_job("""
        import sys
        sys.stdout.write("".join(f"line {i}\\n" for i in range(20000)))
        sys.stderr.write("to stderr\\n")
    """)
    p = pilot({"jobs": [{"name": "app", "exec": job}]})
    assert p.wait() == 0
    numbers = [
        int(line.rsplit(" ", 1)[1])
        for line in p.raw("stdout").decode().splitlines()
        if "| line " in line
    ]
    assert numbers == list(range(20000))
    assert "app   | to stderr" in p.raw("stderr").decode()


def test_invalid_utf8_is_replaced(pilot: Callable[..., Pilot]) -> None:
    """Bytes that are not UTF-8 are logged with replacement characters, not dropped."""
    job = python_job("import sys; sys.stdout.buffer.write(b'caf\\xe9 ok\\n')")
    p = pilot({"jobs": [{"name": "app", "exec": job}]})
    assert p.wait() == 0
    assert "caf\ufffd ok" in p.raw("stdout").decode()


def test_raw_passes_bytes_untouched(pilot: Callable[..., Pilot]) -> None:
    """logging.raw gives the job pilot's stdout: bytes arrive exactly as written."""
    payload = b"\xff\xfe raw\r\nno newline"
    job = python_job(f"import sys; sys.stdout.buffer.write({payload!r})")
    p = pilot({"jobs": [{"name": "app", "exec": job, "logging": {"raw": True}}]})
    assert p.wait() == 0
    assert p.raw("stdout") == payload


def test_json_logging(pilot: Callable[..., Pilot]) -> None:
    """logging.format json writes one JSON object per line for pilot and its jobs."""
    config = {"logging": {"format": "json"}, "jobs": [{"name": "app", "exec": ["echo", "hi"]}]}
    p = pilot(config)
    assert p.wait() == 0
    out = [json.loads(line) for line in p.raw("stdout").decode().splitlines()]
    assert {"source": "app", "stream": "stdout", "msg": "hi"}.items() <= out[0].items()
    own = [json.loads(line) for line in p.raw("stderr").decode().splitlines()]
    assert any(record["source"] == "pilot" and record["msg"] == "app started" for record in own)


def test_names_are_padded_to_the_longest(pilot: Callable[..., Pilot]) -> None:
    """Every prefix is padded to the longest job name, so the columns line up."""
    config = {
        "jobs": [
            {"name": "a", "main": True, "exec": ["echo", "x"]},
            {"name": "much-longer", "exec": ["echo", "y"]},
        ]
    }
    p = pilot(config)
    assert p.wait() == 0
    columns = {line.index("|") for line in p.output.splitlines() if "|" in line}
    assert len(columns) == 1
