"""User events (agent/event_endpoint.go, agent/user_event.go): fired with optional node,
service and tag filters (regular expressions), kept by the agent when they match it (the
last 256); `routes.events` lists them."""

from __future__ import annotations

import base64
from collections import deque
from dataclasses import dataclass
from typing import Any

from pilot.devconsul.go.regexp import GoRegexpError, Pattern, compile_go
from pilot.devconsul.state.errors import ConsulError
from pilot.devconsul.state.store import Store

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
        # serf starts its clocks at 1, and the new leader's consul:new-leader event takes 1.
        self.ltime = 2

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
