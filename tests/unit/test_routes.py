"""pilot.interface.routes: the control socket's queries, parsed once."""

from __future__ import annotations

import pytest

from pilot.interface.routes import (
    LogsQuery,
    MaintenanceQuery,
    QueryError,
    TrafficQuery,
    job_action,
)


def test_queries_parse_into_their_dataclasses() -> None:
    assert LogsQuery.parse("job=a&job=b&after=3&n=10&since=1.5&wait=500") == LogsQuery(
        ("a", "b"), 3, 10, 1.5, 60.0
    )
    assert LogsQuery.parse("") == LogsQuery()
    assert TrafficQuery.parse("service=api&whole=1&wait=2") == TrafficQuery(
        ("api",), wait=2.0, whole=True
    )
    assert MaintenanceQuery.parse("reason=deploy%20now").reason == "deploy now"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("n=x", "n: 'x' is not a number"),
        ("after=-1", "after: out of range"),
        ("wait=nan", "wait: out of range"),
        ("since=1e13", "since: out of range"),
    ],
)
def test_a_bad_parameter_is_refused_by_name(query: str, message: str) -> None:
    with pytest.raises(QueryError) as raised:
        LogsQuery.parse(query)
    assert str(raised.value) == message


def test_a_job_action_quotes_the_name() -> None:
    assert job_action("a b/c", "restart") == ("POST", "/v1/jobs/a%20b%2Fc/restart")
