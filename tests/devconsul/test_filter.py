"""`?filter=`: the grammar and evaluation as go-bexpr's, then the filterable endpoints over HTTP."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import pytest

from pilot.devconsul.filter.evaluation import Filter, shape_of
from pilot.devconsul.filter.grammar import MAX_NESTING, FilterSyntaxError, Match, Not, parse
from pilot.devconsul.routes.filter_shapes import CHECK_SERVICE_NODE
from tests.devconsul.conftest import Api

ENTRY = {
    "Node": {"Node": "n1", "Meta": {"rack": "r1"}, "Address": "10.0.0.1"},
    "Service": {"Service": "web", "Tags": ["v1", "primary"], "Meta": {"env": "prod"}, "Port": 80},
    "Checks": [{"Status": "passing", "Name": "serf"}, {"Status": "warning", "Name": "http"}],
}


def matches(text: str, entry: Any = ENTRY) -> bool:
    """Whether `entry` passes the filter `text` (shaped as a health/service entry)."""
    return Filter(parse(text), shape_of(CHECK_SERVICE_NODE)).keep(entry)


def test_grammar_builds_the_tree() -> None:
    """Operators, selectors with indexes, values and `not not` parse as go-bexpr parses them."""
    assert parse('Service.Meta["env"] == prod') == Match(("Service", "Meta", "env"), "==", "prod")
    assert parse('"v1" not in Service.Tags') == Match(("Service", "Tags"), "not in", "v1")
    assert parse("Service.Tags is not empty") == Match(("Service", "Tags"), "is not empty", None)
    assert parse("not Service.Port==80") == Not(Match(("Service", "Port"), "==", "80"))
    assert parse("not not Service.Port == -1.5") == Match(("Service", "Port"), "==", "-1.5")
    assert parse("Service.Service matches `^w.b$`") == Match(
        ("Service", "Service"), "matches", "^w.b$"
    )


@pytest.mark.parametrize(
    "text",
    [
        "Service.Service ==",
        "(Service.Port == 80",
        'Service.Service == "web',
        "Service.Port == 80 and",
        "== web",
        "Service.Port == 08x",
        "Service.Meta[env] == x",
    ],
)
def test_grammar_refuses_bad_expressions(text: str) -> None:
    """Incomplete or malformed expressions are syntax errors with a position."""
    with pytest.raises(FilterSyntaxError, match=r"^1:\d+ \(\d+\): "):
        parse(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Service.Service == web", True),
        ('Service.Service != "web"', False),
        ("Service.Tags contains primary", True),
        ("Service.Tags not contains v2", True),
        ("v2 in Service.Tags", False),
        ("Service.Meta.env == prod", True),
        ("Service.Meta.missing != x", True),
        ("Service.Meta.missing == x", False),
        ("Service.Meta.missing matches `x`", True),
        ('"x" in Service.Meta.missing', False),
        ('"x" not in Service.Meta.missing', True),
        ("Service.Meta.missing contains x", False),
        ("Service.Meta.missing not contains x", True),
        ("missing in Service.Meta", False),
        ("missing not in Service.Meta", True),
        ("Service.Meta.missing not matches `x`", True),
        ("Service.Meta is not empty", True),
        ("env in Service.Meta", True),
        ("Node.Meta.rack == r1 and Service.Port == 80", True),
        ("Service.Port == 81 or Node.Node == n1", True),
        ("not (Service.Port == 80)", False),
        ("Checks.Status == warning", True),
        ("Checks.Status != passing", True),
        ("Checks.Status == critical", False),
        ("Service.Service matches `^w`", True),
        ("Service.Service not matches `b$`", False),
        ("eb in Service.Service", True),
        ("Service.Address is empty", True),
        ("Service.EnableTagOverride == false", True),
    ],
)
def test_evaluation(text: str, expected: bool) -> None:
    """Each operator evaluates as go-bexpr's (any element of a list, missing map keys)."""
    assert matches(text) is expected


@pytest.mark.parametrize(
    "text",
    [
        "Service.Nope == 1",
        "Service.Port == abc",
        "Service.Tags == x",
        "Service.Port matches `1`",
        "Service == x",
        "Service.Service matches `(`",
    ],
)
def test_creation_errors(text: str) -> None:
    """Unknown selectors, values of the wrong type and bad operators fail at creation."""
    with pytest.raises(FilterSyntaxError):
        matches(text)


def test_health_service_filter_over_http(api: Api) -> None:
    """health/service keeps the entries the filter selects."""
    api.register({"Name": "web", "ID": "a", "Tags": ["v1"], "Meta": {"env": "prod"}})
    api.register({"Name": "web", "ID": "b", "Tags": ["v2"], "Meta": {"env": "dev"}})
    body = api.get("/v1/health/service/web", filter='Service.Meta.env == "prod"').json()
    assert [e["Service"]["ID"] for e in body] == ["a"]
    body = api.get("/v1/health/service/web", filter="v2 in Service.Tags").json()
    assert [e["Service"]["ID"] for e in body] == ["b"]
    body = api.get("/v1/health/service/web", filter="Checks.CheckID == serfHealth").json()
    assert len(body) == 2


@pytest.mark.parametrize(
    ("path", "expression", "count"),
    [
        ("/v1/agent/services", "Tags contains v1", 1),
        ("/v1/agent/services", "Service == web and Port == 0", 2),
        ("/v1/agent/checks", "ServiceID == a", 1),
        ("/v1/catalog/nodes", "Meta is not empty", 1),
        ("/v1/catalog/service/web", "ServiceMeta.env == dev", 1),
        ("/v1/catalog/services", "ServiceName == consul", 1),
        ("/v1/health/node/node1", "Status == critical", 2),
        ("/v1/health/checks/web", "ServiceTags contains v2", 1),
        ("/v1/health/state/any", "CheckID == serfHealth", 1),
    ],
)
def test_filterable_endpoints(api: Api, path: str, expression: str, count: int) -> None:
    """Every filterable endpoint applies the filter to what it answers."""
    api.register({"Name": "web", "ID": "a", "Tags": ["v1"], "Check": {"TTL": "30s"}})
    api.register(
        {"Name": "web", "ID": "b", "Tags": ["v2"], "Meta": {"env": "dev"}, "Check": {"TTL": "30s"}}
    )
    response = api.get(path, filter=expression)
    assert response.status_code == 200, response.text
    assert len(response.json()) == count


def test_node_services_filter(api: Api) -> None:
    """catalog/node-services filters the node's service list; catalog/node its map."""
    api.register({"Name": "web", "ID": "a", "Port": 1})
    api.register({"Name": "db", "ID": "b", "Port": 2})
    body = api.get("/v1/catalog/node-services/node1", filter="Port == 2").json()
    assert body["Node"]["Node"] == "node1"
    assert [s["ID"] for s in body["Services"]] == ["b"]
    node = api.get("/v1/catalog/node/node1", filter="Service == web").json()
    assert list(node["Services"]) == ["a"]


@pytest.mark.parametrize(
    ("expression", "text"),
    [
        ("Service.Nope == 1", 'Selector "Service.Nope" is not valid'),
        ("Service.Port ==", "1:16 (15): no match found"),
        # where pigeon stopped and what it expected there (Consul 1.10.3, 2026-12-07)
        (
            "Service.Port >",
            '1:14 (13): no match found, expected: "!=", "==", "contains", "in", "is", '
            '"matches", "not" or [ \\t\\r\\n]',
        ),
        (
            "Service.Port>",
            '1:13 (12): no match found, expected: "!=", ".", "==", "[", [ \\t\\r\\n] or '
            "[a-zA-Z0-9_]",
        ),
    ],
)
def test_bad_filter_is_400(api: Api, expression: str, text: str) -> None:
    """A bad filter is a 400 naming the problem, as Consul's evaluator creation fails."""
    response = api.get("/v1/health/service/web", filter=expression)
    assert response.status_code == 400
    assert response.text.startswith("Failed to create boolean expression evaluator: " + text)


def test_matches_is_linear_time(api: Api) -> None:
    """`matches` uses Go's (RE2's) linear-time engine: `(a+)+$` against a long run of "a"s
    answers at once (Python's backtracking `re` takes seconds, then ages)."""
    api.register({"Name": "web", "ID": "a", "Meta": {"k": "a" * 25 + "!"}})
    started = time.monotonic()
    response = api.get("/v1/agent/services", filter='Meta.k matches "(a+)+$"')
    assert time.monotonic() - started < 5
    assert response.status_code == 200 and response.json() == {}


@pytest.mark.parametrize(
    ("pattern", "error"),
    [
        ("(a", "error parsing regexp: missing closing ): `(a`"),
        ("(?=a)", "error parsing regexp: invalid or unsupported Perl syntax: `(?=`"),
        ("a**", "error parsing regexp: invalid nested repetition operator: `**`"),
    ],
)
def test_bad_regular_expressions_are_go_errors(api: Api, pattern: str, error: str) -> None:
    """An expression Go's regexp refuses (lookahead, backreferences...) is a 400 in Go's words."""
    response = api.get("/v1/agent/services", filter=f"Service matches `{pattern}`")
    assert response.status_code == 400
    assert response.text == (
        "Failed to create boolean expression evaluator: "
        f'Failed to compile regular expression "{pattern}": {error}'
    )


def test_deep_nesting_is_a_400(api: Api) -> None:
    """Parentheses nested past the limit are a 400 with a position, not a 500 of Python's
    recursion limit; a long flat chain of `or` is no nesting and is answered."""
    deep = "(" * (MAX_NESTING + 1) + "Service == web" + ")" * (MAX_NESTING + 1)
    response = api.get("/v1/agent/services", filter=deep)
    assert response.status_code == 400
    assert response.text.startswith("Failed to create boolean expression evaluator: 1:")
    assert f"nested deeper than {MAX_NESTING}" in response.text
    api.register({"Name": "web", "ID": "a"})
    chain = " or ".join(f"Service == s{n}" for n in range(1500)) + " or Service == web"
    response = api.get("/v1/agent/services", filter="not not " * 1000 + f"({chain})")
    assert response.status_code == 200, response.text
    assert list(response.json()) == ["a"]
    nested = "(" * MAX_NESTING + "Service == web" + ")" * MAX_NESTING
    assert list(api.get("/v1/agent/services", filter=nested).json()) == ["a"]


def test_re2_is_imported_only_for_matches() -> None:
    """A filter without `matches` leaves the RE2 binding unloaded (pilot loads it only when a
    client asks for a regular expression)."""
    code = (
        "import sys\n"
        "from pilot.devconsul.filter.evaluation import Filter, shape_of\n"
        "from pilot.devconsul.filter.grammar import parse\n"
        "from pilot.devconsul.routes.filter_shapes import CHECK_SERVICE_NODE\n"
        "Filter(parse('Service.Port == 80'), shape_of(CHECK_SERVICE_NODE))\n"
        "print('re2' in sys.modules)\n"
        "Filter(parse('Service.Service matches `w`'), shape_of(CHECK_SERVICE_NODE))\n"
        "print('re2' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert result.stdout.split() == ["False", "True"]
