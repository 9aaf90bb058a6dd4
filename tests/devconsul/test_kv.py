"""The KV store: values, flags, cas, recurse, keys, raw, deletes, errors and blocking reads."""

from __future__ import annotations

import base64
import threading
import uuid
from typing import Any

import consul
import pytest

from tests.devconsul.conftest import Api
from tests.helpers import scaled

# go-memdb's UUID index refuses a malformed session id before the lookup (Consul 1.10.3).
LOOKUP = "failed session lookup: index error: "
NOT_HEX = "Invalid UUID: encoding/hex: invalid byte: U+0067 'g'"
UNKNOWN = uuid.UUID(int=7)


def test_put_and_get_through_py_consul(client: Any, api: Api) -> None:
    """py-consul reads back bytes, flags and indexes; an empty value is null; a missing key
    is None (a 404 that still carries the index)."""
    assert client.kv.put("app/a", "1", flags=7)
    index, item = client.kv.get("app/a")
    assert item == {
        "LockIndex": 0,
        "Key": "app/a",
        "Flags": 7,
        "Value": b"1",
        "CreateIndex": item["ModifyIndex"],
        "ModifyIndex": item["ModifyIndex"],
    }
    assert int(index) == item["ModifyIndex"]
    assert client.kv.put("empty", None) and client.kv.get("empty")[1]["Value"] is None
    assert client.kv.get("nope")[1] is None
    missing = api.get("/v1/kv/nope")
    assert (missing.status_code, missing.content) == (404, b"")
    assert int(missing.headers["X-Consul-Index"]) == item["ModifyIndex"] + 1


def test_raw_json_shape_and_headers(api: Api) -> None:
    """The JSON is a list with a base64 value; ?raw answers the bytes as text/plain."""
    assert api.put("/v1/kv/k", data=b"\x00bytes").json() is True
    body = api.get("/v1/kv/k").json()
    assert body[0]["Value"] == base64.b64encode(b"\x00bytes").decode()
    raw = api.get("/v1/kv/k", raw="")
    assert (raw.content, raw.headers["Content-Type"]) == (b"\x00bytes", "text/plain")
    assert raw.headers["X-Content-Type-Options"] == "nosniff"
    assert int(raw.headers["X-Consul-Index"]) == body[0]["ModifyIndex"]


def test_a_plain_put_resets_flags(client: Any) -> None:
    """Flags are what the last write says: a PUT without ?flags sets them to 0."""
    client.kv.put("f", "x", flags=42)
    client.kv.put("f", "y")
    assert client.kv.get("f")[1]["Flags"] == 0


def test_recurse_keys_and_separator(client: Any, api: Api) -> None:
    """recurse lists a prefix in key order; keys cuts at the separator; the empty prefix
    lists everything; a missing prefix is a 404 but the root is []."""
    for key in ("app/b/c", "app/a", "app/b/d", "other"):
        client.kv.put(key, key)
    assert [i["Key"] for i in client.kv.get("app/", recurse=True)[1]] == [
        "app/a",
        "app/b/c",
        "app/b/d",
    ]
    assert client.kv.get("app/", keys=True)[1] == ["app/a", "app/b/c", "app/b/d"]
    assert client.kv.get("app/", keys=True, separator="/")[1] == ["app/a", "app/b/"]
    assert client.kv.get("", keys=True, separator="/")[1] == ["app/", "other"]
    assert len(client.kv.get("", recurse=True)[1]) == 4
    assert api.get("/v1/kv/none/", recurse="").status_code == 404
    assert api.get("/v1/kv/none/", keys="").status_code == 404
    assert client.kv.delete("app/", recurse=True)
    assert client.kv.get("", keys=True)[1] == ["other"]
    assert client.kv.delete("other")
    empty = api.get("/v1/kv/", keys="")
    assert (empty.status_code, empty.json()) == (200, [])


def test_cas(client: Any) -> None:
    """cas=0 creates only; cas=<ModifyIndex> writes only that version; delete-cas likewise,
    and a cas delete of a missing key is true."""
    assert client.kv.put("k", "v1", cas=0)
    assert not client.kv.put("k", "v2", cas=0)
    modify = client.kv.get("k")[1]["ModifyIndex"]
    assert client.kv.put("k", "v2", cas=modify)
    assert not client.kv.put("k", "v3", cas=modify)
    assert not client.kv.put("absent", "v", cas=5)
    assert not client.kv.delete("k", cas=0)
    assert client.kv.delete("k", cas=client.kv.get("k")[1]["ModifyIndex"])
    assert client.kv.delete("never", cas=3)


def test_identical_writes_move_nothing(client: Any) -> None:
    """Writing the same value and flags again leaves ModifyIndex alone."""
    client.kv.put("same", "v")
    before = client.kv.get("same")[1]["ModifyIndex"]
    client.kv.put("same", "v")
    assert client.kv.get("same")[1]["ModifyIndex"] == before


def test_kv_errors(api: Api) -> None:
    """Missing key names, conflicting flags, unparsable numbers and oversized values answer
    with Consul's statuses and texts."""
    cases = [
        ("PUT", "/v1/kv/", {}, 400, "Missing key name"),
        ("GET", "/v1/kv/", {}, 400, "Missing key name"),
        ("DELETE", "/v1/kv/", {}, 400, "Missing key name"),
        (
            "PUT",
            "/v1/kv/x",
            {"acquire": "a", "release": "b"},
            400,
            "Conflicting flags: acquire=a&release=b",
        ),
        (
            "PUT",
            "/v1/kv/x",
            {"cas": "1", "acquire": "a"},
            400,
            "Conflicting flags: acquire=a&cas=1",
        ),
        (
            "DELETE",
            "/v1/kv/x",
            {"recurse": "", "cas": "1"},
            400,
            "Conflicting flags: cas=1&recurse=",
        ),
        ("PUT", "/v1/kv/x", {"flags": "x"}, 500, 'strconv.ParseUint: parsing "x": invalid syntax'),
        ("PUT", "/v1/kv/x", {"cas": "-1"}, 500, 'strconv.ParseUint: parsing "-1": invalid syntax'),
        ("PUT", "/v1/kv/x", {"acquire": "nosuch"}, 500, LOOKUP + "UUID must be 36 characters"),
        ("PUT", "/v1/kv/x", {"acquire": "g" * 36}, 500, LOOKUP + NOT_HEX),
        ("PUT", "/v1/kv/x", {"acquire": str(UNKNOWN)}, 500, f'invalid session "{UNKNOWN}"'),
    ]
    for method, path, params, status, text in cases:
        response = api.http.request(method, api.url + path, params=params, timeout=scaled(5))
        assert (response.status_code, response.text) == (status, text), (method, params)
    big = api.put("/v1/kv/big", data=b"x" * (512 * 1024 + 1))
    assert big.status_code == 413 and big.text.startswith("Request body(524289 bytes) too large")


def test_blocking_get_on_a_missing_key_waits_until_created(api: Api) -> None:
    """A blocking GET on an absent key keeps waiting while other keys change, and returns
    the key once it is created."""
    index = api.index("/v1/kv/later")
    watch = api.watch("/v1/kv/later", index=index, wait="10s")
    api.wait_blocked(1)
    api.put("/v1/kv/unrelated", data=b"x")
    assert not watch.wait(0.5), "returned while the key was still missing"
    api.put("/v1/kv/later", data=b"now")
    assert watch.wait(1) and watch.response is not None
    assert base64.b64decode(watch.response.json()[0]["Value"]) == b"now"


def test_blocking_get_returns_when_the_key_is_deleted(api: Api) -> None:
    """A watch on a key returns (404, newer index) when the key is deleted."""
    api.put("/v1/kv/doomed", data=b"x")
    index = api.index("/v1/kv/doomed")
    watch = api.watch("/v1/kv/doomed", index=index, wait="10s")
    api.wait_blocked(1)
    api.delete("/v1/kv/doomed")
    assert watch.wait(1) and watch.response is not None
    assert watch.response.status_code == 404 and watch.index > index


def test_prefix_watch_wakes_on_its_prefix_only(api: Api) -> None:
    """A recurse (or keys) watch wakes on a change under its prefix, not elsewhere; a
    deleted key's tombstone keeps the prefix index from going back."""
    api.put("/v1/kv/cfg/a", data=b"1")
    index = api.index("/v1/kv/cfg/", recurse="")
    recurse = api.watch("/v1/kv/cfg/", recurse="", index=index, wait="10s")
    keys = api.watch("/v1/kv/cfg/", keys="", index=index, wait="10s")
    api.wait_blocked(2)
    api.put("/v1/kv/cfgx", data=b"outside")
    assert not recurse.wait(0.5) and not keys.wait(0), "woken outside the prefix"
    api.put("/v1/kv/cfg/b", data=b"2")
    assert recurse.wait(1) and keys.wait(1)
    after_write = api.index("/v1/kv/cfg/", recurse="")
    api.delete("/v1/kv/cfg/b")
    assert api.index("/v1/kv/cfg/", recurse="") > after_write


def test_acquire_with_an_unknown_session_through_py_consul(client: Any) -> None:
    """py-consul maps the 500 `invalid session "<id>"` to ConsulException; nothing is written."""
    with pytest.raises(consul.ConsulException) as raised:
        client.kv.put("guarded", "x", acquire="3f0dcdc4-5c4b-47a7-9bbd-6e6c9e4ec7a5")
    assert str(raised.value) == '500 invalid session "3f0dcdc4-5c4b-47a7-9bbd-6e6c9e4ec7a5"'
    assert client.kv.get("guarded")[1] is None


def test_blocking_get_on_a_missing_key_through_py_consul(client: Any, api: Api) -> None:
    """py-consul's kv.get(key, index=...) on an absent key blocks through other writes and
    returns (newer index, the item) once the key is created."""
    index, item = client.kv.get("later")
    assert item is None
    results: list[tuple[str, Any]] = []
    errors: list[BaseException] = []

    def watch() -> None:
        try:
            results.append(client.kv.get("later", index=index, wait="10s"))
        except BaseException as error:  # re-raised below
            errors.append(error)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    api.wait_blocked(1)
    assert client.kv.put("unrelated", "x")
    watcher.join(0.5)
    assert not results, "returned while the key was still missing"
    assert client.kv.put("later", "now")
    watcher.join(scaled(1))
    if errors:
        raise errors[0]
    assert results, "not woken by the key's creation"
    new_index, created = results[0]
    assert int(new_index) > int(index) and created["Value"] == b"now"
    assert int(new_index) == created["ModifyIndex"]
