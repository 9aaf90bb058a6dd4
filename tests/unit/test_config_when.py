"""`when: {all: [...]}`: a job that waits for several events, every one of them."""

from __future__ import annotations

import pytest

from pilot.config.errors import ConfigError
from pilot.config.load import parse_config

TEMPLATES = (
    'templates: [{name: "a", contents: "x", dest: "/tmp/pilot-a"},'
    ' {name: "b", contents: "y", dest: "/tmp/pilot-b"}]'
)


def load(when: str):  # type: ignore[no-untyped-def]
    return parse_config(
        '{consul: "h:1", ' + TEMPLATES + ', jobs: [{name: "nginx", exec: "x", when: '
        + when
        + "}]}",
        {},
    )


def places(when: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(when)
    return [error.place for error in info.value.errors]


def test_all_waits_for_every_event() -> None:
    """`all` lists (source, once) pairs; `events` gives them to the triggers."""
    config = load(
        '{all: [{source: "template.a", once: "rendered"},'
        ' {source: "template.b", once: ["rendered", "renderFailed"]}], timeout: "30s"}'
    )
    when = config.main_job.when
    assert when.events == (
        ("template.a", ("rendered",)),
        ("template.b", ("rendered", "renderFailed")),
    )
    assert when.timeout == 30 and when.source is None


def test_the_single_forms_have_one_event() -> None:
    """`{source, once}` is one (source, codes) pair in `events`; an interval has none."""
    config = load('{source: "template.a", once: "rendered"}')
    assert config.main_job.when.events == (("template.a", ("rendered",)),)
    assert load('{interval: "1s"}').main_job.when.events == ()


def test_each_entry_of_all_is_checked() -> None:
    """An unknown source or a code its source lacks is placed by entry."""
    assert places(
        '{all: [{source: "template.c", once: "rendered"}, {source: "template.b", once: "done"}]}'
    ) == ["jobs[0].when.all[0].source", "jobs[0].when.all[1].once"]


@pytest.mark.parametrize(
    "when",
    [
        '{all: [{source: "template.a", once: "rendered"}], source: "global", once: "startup"}',
        '{all: [{source: "template.a", once: "rendered"}], interval: "1s"}',
        "{all: []}",
        '{all: [{source: "template.a"}]}',
    ],
)
def test_all_is_not_combined_and_not_empty(when: str) -> None:
    """`all` stands alone, names at least one event, and each entry has its code."""
    assert places(when)[0].startswith("jobs[0].when")
