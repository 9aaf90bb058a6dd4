"""`PUT /v1/txn`: KV operations applied atomically, as Consul's Txn endpoint and state store
apply them (agent/txn_endpoint.go, agent/consul/state/txn.go): every operation at one index,
all or nothing, a 409 with the failing operations' errors when any fails."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from pilot.devconsul.agent.registry import Registry
from pilot.devconsul.go.decode import (
    ANY,
    STRING,
    UINT,
    DecodeError,
    Struct,
    decode,
    decode_base64,
    parse_body,
)
from pilot.devconsul.routes.kv import MAX_VALUE_SIZE
from pilot.devconsul.routes.query import local_datacenter
from pilot.devconsul.routes.request import Request, Response
from pilot.devconsul.routes.router import Router
from pilot.devconsul.routes.views import kv_json
from pilot.devconsul.state.errors import ConsulError
from pilot.devconsul.state.kv import Entry
from pilot.devconsul.state.store import Txn

MAX_OPS = 64  # maxTxnOps
MAX_REQUEST = 512 * 1024  # txn_max_req_len (and kv_max_value_size)
WRITES = frozenset({"set", "cas", "lock", "unlock", "delete", "delete-tree", "delete-cas"})
READ_META = {"X-Consul-KnownLeader": "true", "X-Consul-LastContact": "0"}
KV_OP = Struct(
    "KVTxnOp",
    {
        "Verb": STRING,
        "Key": STRING,
        "Value": ANY,
        "Flags": UINT,
        "Index": UINT,
        "Session": STRING,
        "Namespace": STRING,
        "Partition": STRING,
    },
    package="api",
)
TXN_OP = Struct("TxnOp", {"KV": KV_OP, "Node": ANY, "Service": ANY, "Check": ANY}, package="api")


class OpError(Exception):
    """One operation failed; the text is the state store's."""


@dataclass
class KVOp:
    """A decoded KV operation."""

    verb: str
    key: str
    value: bytes | None
    flags: int
    index: int
    session: str


def add_txn_routes(router: Router, registry: Registry) -> None:
    """Serve /v1/txn from `registry`."""
    router.add("/v1/txn", ("PUT",), lambda request: apply(registry, request))


def apply(registry: Registry, request: Request) -> Response:
    """Decode, check and apply the operations; 200 with results or 409 with errors."""
    ops = _decode(request)
    local_datacenter(request, request.param("dc"))
    kv, sessions = registry.kv, registry.sessions
    with registry.store.write() as txn:
        errors = [
            {"OpIndex": i, "What": f'failed to lock key "{op.key}" due to lock delay'}
            for i, op in enumerate(ops)
            if op.verb == "lock" and kv.locked_out(op.key)
        ]
        results: list[dict[str, Any]] = []
        if not errors:
            saved = dict(kv.entries), dict(kv.tombstones)
            for i, op in enumerate(ops):
                try:
                    results += [{"KV": e} for e in _apply(registry, txn, op, sessions.table)]
                except OpError as error:
                    errors.append({"OpIndex": i, "What": str(error)})
            if errors:  # all or nothing: the state and the index stay as they were
                kv.entries.clear()
                kv.entries.update(saved[0])
                kv.tombstones.clear()
                kv.tombstones.update(saved[1])
                txn.topics.clear()
                txn.wakes.clear()
    # A transaction of reads only is Txn.Read, answered with its query meta headers.
    meta = {} if any(op.verb in WRITES for op in ops) else READ_META
    if errors:
        return Response(409, body={"Results": None, "Errors": errors}, headers=dict(meta))
    return Response(body={"Results": results, "Errors": None}, headers=dict(meta))


def _decode(request: Request) -> list[KVOp]:
    if len(request.body) > MAX_REQUEST:
        raise ConsulError(413, f"Request body too large, max size: {MAX_REQUEST} bytes")
    try:
        raw = parse_body(request.body)
        if not isinstance(raw, list):
            raise DecodeError(
                "json: cannot unmarshal object into Go value of type api.TxnOps"
                if isinstance(raw, dict)
                else "json: cannot unmarshal value into Go value of type api.TxnOps"
            )
        items = [decode(item, TXN_OP) for item in raw]
        ops = [_kv_op(item) for item in items]
    except DecodeError as error:
        raise ConsulError(400, f"Failed to parse body: {error}") from None
    if len(ops) > MAX_OPS:
        raise ConsulError(413, f"Transaction contains too many operations ({len(ops)} > {MAX_OPS})")
    for op in ops:
        if op.value is not None and len(op.value) > MAX_VALUE_SIZE:
            raise ConsulError(
                413,
                f'Value for key "{op.key}" is too large ({len(op.value)} > {MAX_VALUE_SIZE} bytes)',
            )
    return ops


def _kv_op(item: dict[str, Any]) -> KVOp:
    if "KV" not in item:
        raise DecodeError("consul-dev applies KV operations only (no Node, Service or Check)")
    kv = item["KV"]
    value = kv.get("Value")
    if value is not None:
        if not isinstance(value, str):
            raise DecodeError(f"unexpected value type: {type(value).__name__}")
        value = decode_base64(value)
    return KVOp(
        kv.get("Verb", ""),
        kv.get("Key", ""),
        value or None,
        kv.get("Flags", 0),
        kv.get("Index", 0),
        kv.get("Session", ""),
    )


def _apply(
    registry: Registry, txn: Txn, op: KVOp, sessions: dict[str, Any]
) -> list[dict[str, Any]]:
    """The results of one operation: its entry (without the value, but for get), the
    entries of get-tree, or none."""
    kv, key = registry.kv, op.key
    verb = op.verb
    if verb == "set":
        kv.set(txn, key, op.value, op.flags)
    elif verb == "cas":
        if not kv.cas(txn, key, op.value, op.flags, op.index):
            raise OpError(f'failed to set key "{key}", index is stale')
    elif verb == "lock":
        if not op.session:
            raise OpError("missing session")
        if op.session not in sessions:
            raise OpError(f'invalid session "{op.session}"')
        if not kv.acquire(txn, key, op.value, op.flags, op.session):
            raise OpError(f'failed to lock key "{key}", lock is already held')
    elif verb == "unlock":
        if not kv.release(txn, key, op.value, op.flags, op.session):
            raise OpError(
                f'failed to unlock key "{key}", lock isn\'t held, or is held by another session'
            )
    elif verb == "get":
        entry = kv.entries.get(key)
        if entry is None:
            raise OpError(f'key "{key}" doesn\'t exist')
        return [kv_json(entry)]
    elif verb == "get-tree":
        return [kv_json(entry) for entry in kv.under(key)]
    elif verb == "check-index":
        entry = _existing(kv.entries, key, "check index")
        if entry.modify_index != op.index:
            raise OpError(
                f'failed index check for key "{key}", current modify index '
                f"{entry.modify_index} != {op.index}"
            )
    elif verb == "check-session":
        entry = _existing(kv.entries, key, "check session")
        if entry.session != op.session:
            raise OpError(
                f'failed to check session, key "{key}" in use by session "{entry.session}"'
            )
    elif verb == "check-not-exists":
        if key in kv.entries:
            raise OpError(f'key "{key}" exists')
        return []
    elif verb == "delete":
        kv.delete(txn, key)
        return []
    elif verb == "delete-tree":
        kv.delete_tree(txn, key)
        return []
    elif verb == "delete-cas":
        if not kv.delete_cas(txn, key, op.index):
            raise OpError(f'failed to delete key "{key}", index is stale')
        return []
    else:
        raise OpError(f'unknown KV verb "{verb}"')
    return [kv_json(dataclasses.replace(kv.entries[key], value=None))]


def _existing(entries: dict[str, Entry], key: str, what: str) -> Entry:
    entry = entries.get(key)
    if entry is None:
        raise OpError(f'failed to {what}, key "{key}" doesn\'t exist')
    return entry
