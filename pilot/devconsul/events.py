"""User events (agent/event_endpoint.go, agent/user_event.go): fired with optional node,
service and tag filters (regular expressions), kept by the agent when they match it (the
last 256), listed with a name filter, blocking on an index made of the last event's ID."""

from __future__ import annotations

import base64
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any

from pilot.devconsul.blocking import wait_params
from pilot.devconsul.go_regexp import GoRegexpError, Pattern, compile_go
from pilot.devconsul.request import ConsulError, Request, Response
from pilot.devconsul.store import Store, Watch

BUFFER = 256  # userEventBuffer
SIZE_LIMIT = 512  # serf's UserEventSizeLimit
MSGPACK_OVERHEAD = 112  # an encoded UserEvent's keys, ID and headers
TOPIC = "user-events"


@dataclass
class UserEvent:
    """An event as the agent keeps it."""

    id: str
    name: str
    payload: bytes
    node_filter: str = ""
    service_filter: str = ""
    tag_filter: str = ""
    ltime: int = 0

    def json(self) -> dict[str, Any]:
        """The UserEvent JSON shape."""
        return {
            "ID": self.id,
            "Name": self.name,
            "Payload": base64.b64encode(self.payload).decode() if self.payload else None,
            "NodeFilter": self.node_filter,
            "ServiceFilter": self.service_filter,
            "TagFilter": self.tag_filter,
            "Version": 1,
            "LTime": self.ltime,
        }


def event_index(event_id: str) -> int:
    """Consul's uuidToUint64: the ID's two halves XORed."""
    hexes = event_id.replace("-", "")
    return int(hexes[:16], 16) ^ int(hexes[16:], 16)


class Events:
    """The agent's recent user events and serf's event clock."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.recent: deque[UserEvent] = deque(maxlen=BUFFER)
        self.ltime = 1  # serf starts its clocks at 1

    def fire(self, event: UserEvent, node: str, services: list[tuple[str, list[str]]]) -> None:
        """Validate and send an event; the agent keeps it if its filters match the node.

        Raises:
            ConsulError: 500 with serf's and the agent's texts.
        """
        if event.tag_filter and not event.service_filter:
            raise ConsulError(500, "Cannot provide tag filter without service filter")
        patterns = {}
        for kind, text in (
            ("node", event.node_filter),
            ("service", event.service_filter),
            ("tag", event.tag_filter),
        ):
            try:
                patterns[kind] = compile_go(text) if text else None
            except GoRegexpError as error:
                raise ConsulError(500, f"Invalid {kind} filter: {error}") from None
        # serf's check: the prefixed name plus the event as the agent encodes it (msgpack of
        # its fields: about 112 bytes of keys and headers, then the values).
        values = (event.name, event.node_filter, event.service_filter, event.tag_filter)
        size = len("consul:event:" + event.name) + MSGPACK_OVERHEAD + len(event.payload)
        size += sum(len(value.encode()) for value in values)
        if size > SIZE_LIMIT:
            raise ConsulError(
                500, f"user event exceeds configured limit of {SIZE_LIMIT} bytes before encoding"
            )
        with self.store.write() as txn:
            event.ltime, self.ltime = self.ltime, self.ltime + 1
            if _matches(patterns, node, services):
                stored = UserEvent(**event.__dict__)
                self.recent.append(stored)
                txn.notify(TOPIC)
        event.ltime = 0  # the answer to fire is the event before serf stamps it

    def list(self, request: Request) -> Response:
        """The kept events (oldest first), `?name=` only those; `?index=` blocks while the
        last event's index is that one."""
        index, wait = wait_params(request)
        name = request.param("name") or ""
        deadline = time.monotonic() + wait
        with self.store.lock:
            while True:
                events = [e for e in self.recent if not name or e.name == name]
                current = event_index(events[-1].id) if events else 1
                if not index or index != current:
                    break
                if not self.store.wait(Watch(frozenset({TOPIC})), deadline):
                    break
            body = [e.json() for e in events]
        return Response(body=body, headers={"X-Consul-Index": str(current)})


def _matches(
    patterns: dict[str, Pattern | None], node: str, services: list[tuple[str, list[str]]]
) -> bool:
    """Whether the local agent should keep an event (shouldProcessUserEvent)."""
    if patterns["node"] is not None and not patterns["node"].search(node):
        return False
    service = patterns["service"]
    if service is None:
        return True
    tag = patterns["tag"]
    return any(
        service.search(name) and (tag is None or any(tag.search(t) for t in tags))
        for name, tags in services
    )


def new_event(request: Request) -> UserEvent:
    """The event a PUT /v1/event/fire/:name asks for."""
    if not request.rest:
        raise ConsulError(400, "Missing name")
    return UserEvent(
        str(uuid.uuid4()),
        request.rest,
        request.body,
        request.param("node") or "",
        request.param("service") or "",
        request.param("tag") or "",
    )
