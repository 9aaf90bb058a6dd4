"""The one table of events: every part of pilot and the docs read it from pilot/events.py."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from pilot.events import SOURCES, Code, markdown_table

REPO = Path(__file__).resolve().parents[2]


def test_the_docs_show_the_table_of_pilot_events() -> None:
    """The configuration reference's events table is the one pilot/events.py renders."""
    assert markdown_table() in (REPO / "docs" / "configuration.md").read_text()


def test_every_code_belongs_to_a_source() -> None:
    """Every event code pilot publishes appears in the table under at least one source."""
    listed = {code for kind in SOURCES.values() for code in kind.codes}
    assert listed == set(Code)


def test_no_module_spells_an_event_code_but_the_table() -> None:
    """An event code as a string literal appears once in pilot/ (the table), never elsewhere."""
    for code in ("exitFailed", "renderFailed", "enterMaintenance", "following"):
        out = subprocess.run(
            ["grep", "-rn", "--include=*.py", f'"{code}"', str(REPO / "pilot")],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        places = [line for line in out.splitlines() if "/devconsul/" not in line]
        assert len(places) == 1 and re.search(r"pilot/events\.py", places[0]), places
