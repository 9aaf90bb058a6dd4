"""The part of Consul's HTTP API pilot uses, typed, on pilot's loop: the agent's services and
checks, health and catalog queries (blocking), KV (locks included), sessions, and the catalog's
register/deregister for `pilot up`'s remote services.

Requests are what py-consul 1.8 sent for the same calls (paths, query parameters in its order,
JSON bodies, the token in X-Consul-Token, the target's datacenter as `dc` where Consul takes one),
so the agent sees no difference; its answers are read as py-consul read them (KV values base64-
decoded, a 404 as "none" where Consul means that).

    api = ConsulAPI(calls, timeout=5)
    index, entries = await api.health_service("db", index=0, wait=60, passing=True)
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import Any

from pilot.consul.calls import ConsulCalls, Params
from pilot.consul.errors import ConsulError
from pilot.http.exchange import Reply

# Consul up to 1.10 answers 500 with this for a check it does not know (later ones, 404).
_NO_TTL = b"does not have associated TTL"


class ConsulAPI:
    """Consul's calls through `calls`, each answered within `timeout` seconds (a blocking
    query within its wait and a margin instead).

    Raises (every method):
        ConsulUnreachable: no answer.
        ConsulError: Consul refused the call, or its answer cannot be read.
    """

    def __init__(self, calls: ConsulCalls, timeout: float = 10.0) -> None:
        self.calls, self.timeout = calls, timeout
        self._dc = calls.target.datacenter

    # The local agent.

    async def register_service(
        self,
        name: str,
        service_id: str,
        address: str,
        port: int,
        tags: Sequence[str],
        meta: Mapping[str, str],
        enable_tag_override: bool,
        check: Mapping[str, Any],
    ) -> None:
        """Register a service and its check with the agent (replacing one of the same ID)."""
        payload: dict[str, Any] = {"name": name}
        if enable_tag_override:
            payload["enabletagoverride"] = True
        if service_id:
            payload["id"] = service_id
        if address:
            payload["address"] = address
        if port:
            payload["port"] = port
        if tags:
            payload["tags"] = list(tags)
        if meta:
            payload["meta"] = dict(meta)
        payload["checks"] = [dict(check)]
        await self._put("/v1/agent/service/register", body=_json_body(payload))

    async def deregister_service(self, service_id: str) -> None:
        """Take a service (and its checks) off the agent; one it does not know is no error."""
        await self._put(f"/v1/agent/service/deregister/{service_id}")

    async def service_maintenance(self, service_id: str, reason: str | None) -> None:
        """Put a service in maintenance mode with `reason`, or take it out (None)."""
        enable = "true" if reason is not None else "false"
        params: list[tuple[str, str | int]] = [("enable", enable)]
        if reason:
            params.append(("reason", reason))
        await self._put(f"/v1/agent/service/maintenance/{service_id}", params)

    async def update_check(self, check_id: str, status: str, output: str) -> bool:
        """Set a TTL check's status and output; False when the agent does not know the check
        (it restarted and lost its state)."""
        reply = await self.calls.request(
            "PUT",
            f"/v1/agent/check/update/{check_id}",
            body=_json_body({"Status": status, "Output": output}),
            timeout=self.timeout,
        )
        if reply.status == 404 or (reply.status == 500 and _NO_TTL in reply.body):
            return False
        _refused(reply, allow_404=False)
        return True

    # Queries, blocking when `index` > 0.

    async def health_service(
        self,
        service: str,
        index: int,
        wait: float,
        passing: bool,
        tags: Sequence[str] = (),
        dc: str | None = None,
    ) -> tuple[int, Any]:
        """(X-Consul-Index, the service's instances with their node and checks)."""
        params = _blocking(index, wait)
        if passing:
            params.append(("passing", "1"))
        params.extend(("tag", tag) for tag in tags)
        params.extend(self._datacenter(dc))
        return await self._query(f"/v1/health/service/{service}", params, wait)

    async def catalog_services(
        self, index: int, wait: float, dc: str | None = None
    ) -> tuple[int, Any]:
        """(X-Consul-Index, {service name: [tags]})."""
        params = [*self._datacenter(dc), *_blocking(index, wait)]
        return await self._query("/v1/catalog/services", params, wait)

    async def kv_get(
        self,
        key: str,
        index: int = 0,
        wait: float | None = None,
        recurse: bool = False,
        dc: str | None = None,
    ) -> tuple[int, Any]:
        """(X-Consul-Index, the entry, or with `recurse` the entries under the prefix; None
        when there is none), each Value decoded to bytes. With `wait`, a blocking query."""
        params = _blocking(index, wait)
        if recurse:
            params.append(("recurse", "1"))
        params.extend(self._datacenter(dc))
        new_index, items = await self._query(f"/v1/kv/{key}", params, wait)
        for item in items if isinstance(items, list) else ():
            if isinstance(item, dict) and item.get("Value") is not None:
                try:
                    item["Value"] = base64.b64decode(item["Value"])
                except (TypeError, ValueError) as error:
                    raise ConsulError(200, f"a Value is not base64: {error}") from None
        if not recurse and isinstance(items, list):
            return new_index, items[0] if items else None
        return new_index, items

    async def kv_put(
        self, key: str, value: str, acquire: str | None = None, release: str | None = None
    ) -> bool:
        """Write `value` at `key` (taking the lock for session `acquire`, or releasing
        `release`'s); whether Consul did."""
        params: list[tuple[str, str | int]] = []
        if acquire:
            params.append(("acquire", acquire))
        if release:
            params.append(("release", release))
        params.extend(self._datacenter(None))
        reply = await self._put(f"/v1/kv/{key}", params, value.encode("utf-8"))
        return reply.status != 404 and _json(reply) is True

    # Sessions.

    async def session_create(self, name: str, ttl: float, lock_delay: float) -> str:
        """A new session (behaviour release) on the agent's node; its ID."""
        data: dict[str, Any] = {"name": name}
        if lock_delay != 15:  # Consul's default, left out as py-consul did
            data["lockdelay"] = f"{lock_delay}s"
        data["ttl"] = f"{ttl}s"
        reply = await self._put("/v1/session/create", self._datacenter(None), _json_body(data))
        answer = _json(reply)
        try:
            return str(answer["ID"])
        except (TypeError, KeyError):
            raise ConsulError(reply.status, f"answer without a session ID: {answer!r}") from None

    async def session_renew(self, session: str) -> None:
        """Renew a session. Raises ConsulError (404) when it is gone."""
        await self._put(f"/v1/session/renew/{session}", self._datacenter(None), allow_404=False)

    async def session_destroy(self, session: str) -> None:
        """End a session: the locks it holds are released."""
        await self._put(f"/v1/session/destroy/{session}", self._datacenter(None))

    # The catalog, for external services.

    async def catalog_register(
        self, node: str, address: str, service: Mapping[str, Any], check: Mapping[str, Any]
    ) -> None:
        """Register an external node's service and its check in the catalog."""
        data: dict[str, Any] = {"node": node, "address": address}
        if self._dc:
            data["datacenter"] = self._dc
        data["service"], data["check"] = dict(service), dict(check)
        self._write_request(data)
        await self._put("/v1/catalog/register", body=_json_body(data))

    async def catalog_deregister(self, node: str, service_id: str) -> None:
        """Take an external node's service off the catalog."""
        data: dict[str, Any] = {"node": node}
        if self._dc:
            data["datacenter"] = self._dc
        data["serviceid"] = service_id
        self._write_request(data)
        await self._put("/v1/catalog/deregister", body=_json_body(data))

    # The wire.

    def _datacenter(self, dc: str | None) -> list[tuple[str, str | int]]:
        chosen = dc or self._dc
        return [("dc", chosen)] if chosen else []

    def _write_request(self, data: dict[str, Any]) -> None:
        token = self.calls.target.token
        if token:
            data["WriteRequest"] = {"Token": token}

    async def _put(
        self, path: str, params: Params = (), body: bytes = b"", allow_404: bool = True
    ) -> Reply:
        reply = await self.calls.request("PUT", path, params, body, self.timeout)
        _refused(reply, allow_404)
        return reply

    async def _query(self, path: str, params: Params, wait: float | None) -> tuple[int, Any]:
        reply = await self.calls.request("GET", path, params, timeout=self.timeout, wait=wait)
        _refused(reply, allow_404=True)
        header = reply.header("x-consul-index")
        if not header.isdigit():
            raise ConsulError(reply.status, f"answer without an X-Consul-Index ({header!r})")
        return int(header), None if reply.status == 404 else _json(reply)


def _blocking(index: int, wait: float | None) -> list[tuple[str, str | int]]:
    if not index:
        return []
    return [("index", index)] + ([("wait", f"{wait:g}s")] if wait else [])


def _refused(reply: Reply, allow_404: bool) -> None:
    """Raise ConsulError for a 4xx or 5xx answer (but a 404 where it means "none")."""
    if reply.status >= 400 and not (reply.status == 404 and allow_404):
        text = reply.body.decode("utf-8", "replace").strip()
        raise ConsulError(reply.status, text or "(no message)")


def _json(reply: Reply) -> Any:
    try:
        return json.loads(reply.body)
    except ValueError as error:
        raise ConsulError(reply.status, f"answer is not JSON: {error}") from None


def _json_body(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data).encode("utf-8")
