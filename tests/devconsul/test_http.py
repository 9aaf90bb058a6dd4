"""HTTP plumbing as Consul's Go server does it: methods, unknown paths, redirects, bodies."""

from __future__ import annotations

import pytest
import requests

from tests.devconsul.conftest import Api
from tests.helpers import scaled


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/v1/agent/service/register", "OPTIONS,PUT"),
        ("POST", "/v1/agent/check/pass/x", "OPTIONS,PUT"),
        ("PUT", "/v1/agent/services", "OPTIONS,GET"),
        ("DELETE", "/v1/health/service/x", "OPTIONS,GET"),
        ("GET", "/v1/session/create", "OPTIONS,PUT"),
        ("POST", "/v1/kv/x", "OPTIONS,GET,PUT,DELETE"),
        ("PUT", "/v1/status/leader", "OPTIONS,GET"),
    ],
)
def test_wrong_method_is_405_with_allow(api: Api, method: str, path: str, allow: str) -> None:
    """A method the endpoint does not take is a 405 naming it, with an Allow header."""
    response = api.http.request(method, api.url + path, timeout=scaled(5))
    assert (response.status_code, response.text) == (405, f"method {method} not allowed")
    assert response.headers["Allow"] == allow


def test_options_answers_the_allowed_methods(api: Api) -> None:
    """OPTIONS answers 200 with the Allow list and no body."""
    response = api.http.options(api.url + "/v1/kv/x", timeout=scaled(5))
    assert (response.status_code, response.content) == (200, b"")
    assert response.headers["Allow"] == "OPTIONS,GET,PUT,DELETE"


def test_unknown_paths(api: Api) -> None:
    """Unknown API paths are 404s with Consul's texts; / says the UI is disabled."""
    unknown = api.get("/v1/nothing")
    assert (unknown.status_code, unknown.text) == (
        404,
        "Invalid URL path: not a recognized HTTP API endpoint\n",
    )
    assert api.get("/v1/agent/check/").status_code == 404
    outside = api.get("/elsewhere")
    assert outside.status_code == 404 and "ensure the path starts with '/v1/'" in outside.text
    assert api.get("/").text.startswith("Consul Agent: UI disabled")


def test_redirects_of_go_servemux(api: Api) -> None:
    """A subtree root without its slash and an unclean path are 301s, as Go's ServeMux does."""
    bare = requests.get(api.url + "/v1/kv", allow_redirects=False, timeout=scaled(5))
    assert (bare.status_code, bare.headers["Location"]) == (301, "/v1/kv/")
    unclean = requests.get(api.url + "/v1/kv/a//b?raw", allow_redirects=False, timeout=scaled(5))
    assert (unclean.status_code, unclean.headers["Location"]) == (301, "/v1/kv/a/b?raw")


def test_json_is_compact_or_pretty_and_html_escaped(api: Api) -> None:
    """Bodies are compact JSON, indented with ?pretty, with <>& escaped as Go escapes them."""
    api.register({"Name": "x", "Meta": {"m": "<a&b>"}})
    compact = api.get("/v1/agent/services").content
    assert b"\\u003ca\\u0026b\\u003e" in compact and b"\n" not in compact
    pretty = api.get("/v1/agent/services", pretty="").text
    assert pretty.startswith('{\n    "x": {') and pretty.endswith("}\n")


def test_index_header_is_never_zero(api: Api) -> None:
    """Reads of tables nothing has written yet still answer X-Consul-Index 1, not 0."""
    missing = api.get("/v1/kv/nothing")
    assert (missing.status_code, missing.content) == (404, b"")
    assert missing.headers["X-Consul-Index"] == "1"
    assert api.get("/v1/session/list").headers["X-Consul-Index"] == "1"
