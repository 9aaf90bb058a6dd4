"""PUT /v1/txn: KV operations applied atomically, with Consul's results, errors and limits."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.devconsul.conftest import Api


def kv(verb: str, key: str, value: bytes | None = None, **fields: Any) -> dict[str, Any]:
    """One KV operation of a transaction."""
    op: dict[str, Any] = {"Verb": verb, "Key": key, **fields}
    if value is not None:
        op["Value"] = base64.b64encode(value).decode()
    return {"KV": op}


def test_writes_apply_at_one_index_and_answer_entries_without_values(client: Any) -> None:
    """set and cas answer their entries (no Value) at one index; get answers the value."""
    result = client.txn.put(
        [kv("set", "a", b"1", Flags=7), kv("cas", "b", b"2", Index=0), kv("get", "a")]
    )
    assert result["Errors"] is None
    first, second, got = (r["KV"] for r in result["Results"])
    assert first["Value"] is None and first["Flags"] == 7
    assert first["ModifyIndex"] == second["ModifyIndex"] == got["ModifyIndex"]
    assert base64.b64decode(got["Value"]) == b"1"
    assert client.kv.get("b")[1]["Value"] == b"2"


def test_a_failing_operation_rolls_back_everything(api: Api, client: Any) -> None:
    """A 409 lists the failing operations; nothing of the transaction is applied."""
    client.kv.put("held", "x")
    index = api.index("/v1/kv/held")
    response = api.put(
        "/v1/txn",
        json=[
            kv("set", "new", b"v"),
            kv("delete", "held"),
            kv("check-index", "held", Index=index + 100),
            kv("get", "missing"),
        ],
    )
    assert response.status_code == 409
    assert response.json() == {
        "Results": None,
        "Errors": [
            {"OpIndex": 2, "What": 'failed to check index, key "held" doesn\'t exist'},
            {"OpIndex": 3, "What": 'key "missing" doesn\'t exist'},
        ],
    }
    assert client.kv.get("new")[1] is None and client.kv.get("held")[1]["Value"] == b"x"
    assert api.index("/v1/kv/held") == index


@pytest.mark.parametrize(
    ("ops", "error"),
    [
        ([kv("cas", "k", b"v", Index=1)], 'failed to set key "k", index is stale'),
        ([kv("delete-cas", "k", Index=1)], 'failed to delete key "k", index is stale'),
        ([kv("check-not-exists", "k")], 'key "k" exists'),
        (
            [kv("check-session", "k", Session="s")],
            'failed to check session, key "k" in use by session ""',
        ),
        ([kv("lock", "k", Session="nope")], 'invalid session "nope"'),
        ([kv("lock", "k")], "missing session"),
        (
            [kv("unlock", "k", Session="nope")],
            'failed to unlock key "k", lock isn\'t held, or is held by another session',
        ),
        ([kv("frob", "k")], 'unknown KV verb "frob"'),
    ],
)
def test_operation_errors(api: Api, ops: list[dict[str, Any]], error: str) -> None:
    """Each verb fails with the state store's text."""
    api.put("/v1/kv/k", data=b"v")
    response = api.put("/v1/txn", json=ops)
    assert response.status_code == 409
    assert response.json()["Errors"] == [{"OpIndex": 0, "What": error}]


def test_locks_sessions_and_trees(api: Api, client: Any) -> None:
    """lock/unlock/check-session with a real session; get-tree and delete-tree."""
    session = client.session.create(lock_delay=0)
    result = client.txn.put(
        [kv("lock", "l/a", b"me", Session=session), kv("check-session", "l/a", Session=session)]
    )
    assert result["Results"][0]["KV"]["Session"] == session
    assert result["Results"][0]["KV"]["LockIndex"] == 1
    taken = api.put("/v1/txn", json=[kv("lock", "l/a", Session=client.session.create())])
    assert taken.json()["Errors"][0]["What"] == 'failed to lock key "l/a", lock is already held'
    client.txn.put([kv("unlock", "l/a", Session=session), kv("set", "l/b", b"2")])
    tree = client.txn.put([kv("get-tree", "l/")])["Results"]
    assert [r["KV"]["Key"] for r in tree] == ["l/a", "l/b"]
    assert "Session" not in tree[0]["KV"]
    assert client.txn.put([kv("delete-tree", "l/")])["Results"] == []
    assert client.kv.get("l/", recurse=True)[1] is None


def test_a_write_wakes_a_blocked_kv_read(api: Api) -> None:
    """A transaction's write wakes a blocking read of its key, at the transaction's index."""
    api.put("/v1/kv/w", data=b"0")
    index = api.index("/v1/kv/w")
    watch = api.watch("/v1/kv/w", index=index, wait="10s")
    api.wait_blocked(1)
    api.put("/v1/txn", json=[kv("set", "w", b"1"), kv("set", "other", b"x")])
    assert watch.wait(5) and watch.index > index


def test_limits_and_bad_bodies(api: Api) -> None:
    """65 operations, a value over 512 KiB and undecodable bodies get Consul's answers."""
    too_many = api.put("/v1/txn", json=[kv("get", f"k{n}") for n in range(65)])
    assert (too_many.status_code, too_many.text) == (
        413,
        "Transaction contains too many operations (65 > 64)",
    )
    big = api.put("/v1/txn", json=[kv("set", "big", b"x" * (512 * 1024 + 1))])
    assert big.status_code == 413
    unknown = api.put("/v1/txn", json=[{"KV": {"Verb": "get", "Key": "a", "Nope": 1}}])
    assert (unknown.status_code, unknown.text) == (
        400,
        'Failed to parse body: json: unknown field "Nope"',
    )
    not_a_list = api.put("/v1/txn", json={"KV": {}})
    assert not_a_list.text.startswith("Failed to parse body: json: cannot unmarshal object")
    bad_value = api.put("/v1/txn", json=[{"KV": {"Verb": "set", "Key": "a", "Value": "!!"}}])
    assert bad_value.text == "Failed to parse body: illegal base64 data at input byte 0"
    assert api.get("/v1/txn").status_code == 405


def test_read_only_transactions_carry_query_meta(api: Api) -> None:
    """A transaction of reads only answers KnownLeader and LastContact, as Txn.Read does."""
    api.put("/v1/kv/r", data=b"1")
    read = api.put("/v1/txn", json=[kv("get", "r")])
    assert (read.headers["X-Consul-Knownleader"], read.headers["X-Consul-Lastcontact"]) == (
        "true",
        "0",
    )
    assert "X-Consul-Knownleader" not in api.put("/v1/txn", json=[kv("set", "r", b"2")]).headers


def test_a_rolled_back_transaction_leaves_every_index(api: Api, client: Any) -> None:
    """After a 409, the index of each key, of their prefix and of the KV table are what they
    were (a delete's tombstone is rolled back too), and a read blocked on the prefix is not
    answered; the next real write answers it."""
    client.kv.put("app/a", "1")
    client.kv.put("app/b", "2")
    key, prefix = api.index("/v1/kv/app/a"), api.index("/v1/kv/app/", recurse="")
    table = api.index("/v1/kv/", recurse="")
    watch = api.watch("/v1/kv/app/", recurse="", index=prefix, wait="20s")
    api.wait_blocked(1)
    response = api.put(
        "/v1/txn",
        json=[
            kv("delete", "app/a"),
            kv("set", "app/c", b"3"),
            kv("delete-tree", "app/b"),
            kv("cas", "app/b", b"x", Index=key + 100),
        ],
    )
    assert response.status_code == 409
    assert api.index("/v1/kv/app/a") == key
    assert api.index("/v1/kv/app/", recurse="") == prefix
    assert api.index("/v1/kv/", recurse="") == table
    assert client.kv.get("app/c")[1] is None
    assert not watch.wait(0.5), "a rolled-back transaction answered a blocked prefix read"
    client.kv.put("app/d", "4")
    assert watch.wait(10)
    assert watch.index > prefix
