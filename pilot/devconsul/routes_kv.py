"""KV and session endpoints: values, cas, locks with acquire/release, sessions with TTLs."""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any

from pilot.devconsul.checks import go_duration
from pilot.devconsul.handler import Answer, Call, ConsulError, Router, folded
from pilot.devconsul.state import KVEntry, Session, State

SESSION_FIELDS = folded(
    "Name",
    "Node",
    "LockDelay",
    "Behavior",
    "TTL",
    "NodeChecks",
    "ServiceChecks",
    "Checks",
    "Namespace",
)


def kv_json(entry: KVEntry) -> dict[str, Any]:
    out: dict[str, Any] = {
        "LockIndex": entry.lock_index,
        "Key": entry.key,
        "Flags": entry.flags,
        "Value": base64.b64encode(entry.value).decode() if entry.value else None,
        "CreateIndex": entry.create_index,
        "ModifyIndex": entry.modify_index,
    }
    if entry.session:
        out["Session"] = entry.session
    return out


def session_json(session: Session) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ID": session.id,
        "Name": session.name,
        "Node": session.node,
        "LockDelay": int(session.lock_delay * 1e9),
        "Behavior": session.behavior,
        "TTL": f"{session.ttl:g}s" if session.ttl else "",
        "NodeChecks": session.node_checks,
        "ServiceChecks": session.service_checks,
        "CreateIndex": session.create_index,
        "ModifyIndex": session.modify_index,
    }
    return out


class KVRoutes:
    """Registers /v1/kv/ and /v1/session/."""

    def __init__(self, router: Router) -> None:
        router.add("/v1/kv/", ("GET", "PUT", "DELETE"), self.kv, prefix=True)
        router.add("/v1/session/create", ("PUT",), self.create)
        router.add("/v1/session/renew/", ("PUT",), self.renew, prefix=True)
        router.add("/v1/session/destroy/", ("PUT",), self.destroy, prefix=True)
        router.add("/v1/session/info/", ("GET",), self.info, prefix=True)
        router.add("/v1/session/list", ("GET",), self.list)
        router.add("/v1/session/node/", ("GET",), self.node, prefix=True)

    def kv(self, call: Call) -> Answer:
        if call.method == "GET":
            return self._get(call)
        if call.method == "DELETE":
            return self._delete(call)
        return self._put(call)

    def _get(self, call: Call) -> Answer:
        key, recurse, keys_only = call.path, call.flag("recurse"), "keys" in call.params
        separator = call.param("separator")
        index, wait = call.blocking()
        state = call.state

        def resource() -> int:
            if recurse or keys_only:
                return max(
                    [i for k, i in state.indexes.items() if k.startswith("kv:" + key)] or [1]
                )
            return state.index_of(f"kv:{key}")

        with state.lock:
            if index > 0:
                state.wait_beyond(resource, index, wait)
            current = resource()
            if keys_only:
                found = sorted(k for k in state.kv if k.startswith(key))
                if separator:
                    found = sorted(
                        {
                            k[: len(key) + k[len(key) :].find(separator) + len(separator)]
                            if separator in k[len(key) :]
                            else k
                            for k in found
                        }
                    )
                return Answer(200 if found else 404, found or None, current)
            if recurse:
                entries = [kv_json(e) for k, e in sorted(state.kv.items()) if k.startswith(key)]
            else:
                entries = [kv_json(state.kv[key])] if key in state.kv else []
            if not entries:
                return Answer(404, None, current)
            if "raw" in call.params and not recurse:
                return Answer(200, state.kv[key].value or b"", current)
            return Answer(body=entries, index=current)

    def _put(self, call: Call) -> Answer:
        key = call.path
        if not key:
            raise ConsulError(400, "Missing key name")
        acquire, release, cas = call.param("acquire"), call.param("release"), call.param("cas")
        if acquire and release:
            raise ConsulError(400, "Conflicting flags: acquire=" + acquire + "&release=" + release)
        flags_raw = call.param("flags", "0") or "0"
        if not flags_raw.isdigit() or (cas is not None and not cas.isdigit()):
            raise ConsulError(400, "Invalid flags" if not flags_raw.isdigit() else "Invalid cas")
        state = call.state
        with state.lock:
            entry = state.kv.get(key)
            if cas is not None and (int(cas) != (entry.modify_index if entry else 0)):
                return Answer(body=False)
            session_id = acquire or release
            if session_id and session_id not in state.sessions:
                raise ConsulError(500, f'invalid session "{session_id}"')
            if acquire:
                if entry is not None and entry.session and entry.session != acquire:
                    return Answer(body=False)
                if state.lock_delays.get(key, 0) > time.monotonic():
                    return Answer(body=False)
            if release and (entry is None or entry.session != release):
                return Answer(body=False)
            index = state.bump(f"kv:{key}", "kv")
            if entry is None:
                entry = state.kv[key] = KVEntry(key, None, 0, index, index)
            entry.value, entry.flags, entry.modify_index = call.body or None, int(flags_raw), index
            if acquire and entry.session != acquire:
                entry.session = acquire
                entry.lock_index += 1
            elif release:
                entry.session = None
            return Answer(body=True)

    def _delete(self, call: Call) -> Answer:
        key, recurse, cas = call.path, call.flag("recurse"), call.param("cas")
        state = call.state
        with state.lock:
            if cas is not None:
                entry = state.kv.get(key)
                if entry is None or entry.modify_index != int(cas or 0):
                    return Answer(body=False)
            doomed = [k for k in state.kv if (k.startswith(key) if recurse else k == key)]
            for name in doomed:
                del state.kv[name]
            state.bump(*(f"kv:{name}" for name in doomed or [key]), "kv")
            return Answer(body=True)

    def create(self, call: Call) -> Answer:
        body = call.json(SESSION_FIELDS, required=False)
        state = call.state
        node = body.get("Node") or state.node
        if node != state.node:
            raise ConsulError(500, "Missing node registration")
        behavior = body.get("Behavior") or "release"
        if behavior not in ("release", "delete"):
            raise ConsulError(500, f"Invalid Behavior setting '{behavior}'")
        try:
            lock_delay = _lock_delay(body.get("LockDelay", "15s"))
            ttl = go_duration(body["TTL"]) if body.get("TTL") else None
        except ValueError as error:
            raise ConsulError(500, f"Session TTL '{body.get('TTL')}' invalid: {error}") from None
        if ttl is not None and not 10 <= ttl <= 86400:
            raise ConsulError(
                500, f"Invalid Session TTL '{int(ttl * 1e9)}', must be between [10s=24h0m0s]"
            )
        node_checks = body.get("NodeChecks", body.get("Checks", ["serfHealth"]))
        node_checks = list(node_checks) if node_checks is not None else []
        service_checks = body.get("ServiceChecks")
        with state.lock:
            for check_id in node_checks + [c.get("ID", "") for c in service_checks or []]:
                check = state.checks.get(check_id)
                if check is None:
                    raise ConsulError(500, f"Missing check '{check_id}' registration")
                if check.status == "critical":
                    raise ConsulError(500, f"Check '{check_id}' is in critical state")
            index = state.bump("sessions")
            session = Session(
                str(uuid.uuid4()),
                body.get("Name") or "",
                node,
                ttl,
                behavior,
                lock_delay,
                node_checks,
                service_checks,
                time.monotonic() + 2 * ttl if ttl else None,
                index,
                index,
            )
            state.sessions[session.id] = session
        return Answer(body={"ID": session.id})

    def renew(self, call: Call) -> Answer:
        state = call.state
        with state.lock:
            session = state.sessions.get(call.path)
            if session is None:
                raise ConsulError(404, f"Session id '{call.path}' not found")
            if session.ttl:
                session.expires = time.monotonic() + 2 * session.ttl
            return Answer(body=[session_json(session)], index=state.index_of("sessions"))

    def destroy(self, call: Call) -> Answer:
        with call.state.lock:
            call.state.invalidate_session(call.path)
        return Answer(body=True)

    def info(self, call: Call) -> Answer:
        def answer(state: State) -> list[dict[str, Any]]:
            session = state.sessions.get(call.path)
            return [session_json(session)] if session else []

        return _blocking_sessions(call, answer)

    def list(self, call: Call) -> Answer:
        return _blocking_sessions(call, lambda s: [session_json(x) for x in s.sessions.values()])

    def node(self, call: Call) -> Answer:
        return _blocking_sessions(
            call, lambda s: [session_json(x) for x in s.sessions.values() if x.node == call.path]
        )


def _blocking_sessions(call: Call, answer: Any) -> Answer:
    from pilot.devconsul.routes_read import blocking

    return blocking(call, lambda s: s.index_of("sessions"), answer)


def _lock_delay(value: Any) -> float:
    """LockDelay: a duration or number; anything below 1000 (ns) counts as seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) if value < 1000 else value / 1e9
    seconds = go_duration(value)
    return seconds * 1e9 if seconds * 1e9 < 1000 else seconds
