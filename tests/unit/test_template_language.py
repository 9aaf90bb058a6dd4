"""The template language: lookups record their queries, results are sorted and deterministic."""

from __future__ import annotations

from typing import Any

import pytest

from pilot.consul.watch import Instance, Query
from pilot.render.language import MISSING, Lookups, TemplateLookupError, make_environment


def instance(id_: str, node: str, port: int, tags: tuple[str, ...] = (), **meta: str) -> Instance:
    return Instance(
        id_, "web", "10.0.0.1", port, tags, tuple(sorted(meta.items())), node, "passing"
    )


WEB = Query("service", "web", (), None, True)
FLAG = Query("key", "app/flag", (), None, False)


def render(
    text: str, data: dict[Query, Any], environ: dict[str, str] | None = None
) -> tuple[str, Lookups]:
    lookups = Lookups(lambda q: data.get(q, MISSING), environ or {}, ".")
    out = make_environment().from_string(text).render(**lookups.functions())
    return out, lookups


def test_service_instances_are_sorted_by_node_then_id() -> None:
    """service() sorts instances by (node, id), whatever order Consul answered in."""
    data = {WEB: (instance("b", "n2", 2), instance("c", "n1", 3), instance("a", "n2", 1))}
    out, lookups = render("{% for i in service('web') %}{{ i.id }} {% endfor %}", data)
    assert out == "c a b "
    assert lookups.used == {WEB} and not lookups.missing


def test_unanswered_query_is_reported_missing() -> None:
    """A query without an answer yet renders as empty and is listed as missing."""
    out, lookups = render("[{{ service('web') | length }}]", {})
    assert out == "[0]" and lookups.missing == {WEB}


def test_keys() -> None:
    """key() reads a value, key_or_default() falls back, a missing key() fails the render."""
    data = {FLAG: (("app/flag", b"on"),), Query("key", "nope", (), None, False): ()}
    assert render("{{ key('app/flag') }}", data)[0] == "on"
    assert render("{{ key_or_default('nope', 'off') }}", data)[0] == "off"
    with pytest.raises(TemplateLookupError):
        render("{{ key('nope') }}", data)


def test_tree_is_relative_and_sorted() -> None:
    """tree() lists the keys under a prefix, relative to it."""
    data = {
        Query("prefix", "app/", (), None, False): (
            ("app/a", b"1"),
            ("app/b/c", b"2"),
            ("app/d/", None),
        )
    }
    out, _ = render("{% for kv in tree('app/') %}{{ kv.key }}={{ kv.value }};{% endfor %}", data)
    assert out == "a=1;b/c=2;"


def test_filters_by_tag_and_meta() -> None:
    """by_tag and by_meta select instances."""
    data = {
        WEB: (instance("a", "n", 1, ("v1",), zone="x"), instance("b", "n", 2, ("v2",), zone="y"))
    }
    assert render("{{ (service('web') | by_tag('v2'))[0].id }}", data)[0] == "b"
    assert render("{{ (service('web') | by_meta('zone', 'x'))[0].id }}", data)[0] == "a"


def test_strict_undefined_and_sandbox() -> None:
    """Unknown names fail the render; the sandbox refuses private attributes."""
    with pytest.raises(Exception, match="undefined"):
        render("{{ nothing_here }}", {})
    with pytest.raises(Exception, match=r"unsafe|access"):
        render("{{ service.__globals__ }}", {})


def test_env_with_and_without_default() -> None:
    """env() reads pilot's environment; unset without default fails."""
    assert render("{{ env('X') }}", {}, {"X": "1"})[0] == "1"
    assert render("{{ env('Y', 'd') }}", {})[0] == "d"
    with pytest.raises(TemplateLookupError):
        render("{{ env('Y') }}", {})


def test_same_data_same_bytes() -> None:
    """Rendering is deterministic."""
    data = {WEB: (instance("a", "n", 1, ("t2", "t1")),)}
    text = "{% for i in service('web') %}{{ i.tags }}{{ i.meta }}{% endfor %}"
    assert render(text, data)[0] == render(text, data)[0] == "('t1', 't2'){}"


CATALOG = Query("catalog", "", (), None, False)
EVERYTHING = (
    ("api", ()),
    ("consul", ()),
    ("containerpilot", ()),
    ("nginx", ()),
    ("pilot-telemetry", ()),
    ("web", ()),
)


def test_upstreams_default_to_the_catalog_but_own_registry_and_telemetry_services() -> None:
    """upstreams() without PILOT_UPSTREAMS is every catalog service but this pilot's own
    (nginx must not proxy to itself), consul and the telemetry services."""
    lookups = Lookups(
        lambda q: {CATALOG: EVERYTHING}.get(q, MISSING), {}, ".", own_services=frozenset({"nginx"})
    )
    out = make_environment().from_string("{{ upstreams() | join(',') }}")
    assert out.render(**lookups.functions()) == "api,web"


def test_upstreams_follow_pilot_upstreams_when_set() -> None:
    """PILOT_UPSTREAMS names the upstreams, in its order, and asks nothing of the catalog."""
    out, lookups = render("{{ upstreams() | join(',') }}", {}, {"PILOT_UPSTREAMS": " web, api ,"})
    assert out == "web,api" and lookups.used == set()
