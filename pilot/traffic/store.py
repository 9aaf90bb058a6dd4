"""Recorded HTTP exchanges: what one request and its response carried, kept in a bounded ring
per service, numbered in the order they ended so that a follower never misses one."""

from __future__ import annotations

import base64
import collections
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pilot.feed import Feed

DEFAULT_BODY_LIMIT = 64 << 10  # bytes of each body kept
DEFAULT_KEEP = 1000  # exchanges kept per service
MASKED = "[masked]"
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})

Headers = list[tuple[str, str]]


def mask_headers(headers: Iterable[tuple[str, str]], unmasked: frozenset[str]) -> Headers:
    """`headers` with the values of credential headers replaced by MASKED, except those named
    (lower-case) in `unmasked`."""
    return [
        (name, MASKED if name.lower() in SECRET_HEADERS - unmasked else value)
        for name, value in headers
    ]


@dataclass(slots=True)
class Body:
    """The first `limit` bytes of a message body, and its whole size."""

    limit: int
    kept: bytearray = field(default_factory=bytearray)
    size: int = 0

    def add(self, data: bytes) -> None:
        """Count `data`, keeping what fits under the limit."""
        room = self.limit - len(self.kept)
        if room > 0:
            self.kept += data[:room]
        self.size += len(data)

    @property
    def truncated(self) -> bool:
        return self.size > len(self.kept)

    def to_json(self) -> dict[str, Any]:
        """`size`, `truncated`, and the kept bytes as `text` (UTF-8) or else `base64`."""
        out: dict[str, Any] = {"size": self.size, "truncated": self.truncated}
        raw = bytes(self.kept)
        try:
            out["text"] = raw.decode()
        except UnicodeDecodeError:
            text = _utf8_prefix(raw) if self.truncated else None
            if text is not None:
                out["text"] = text
            else:
                out["base64"] = base64.b64encode(raw).decode()
        return out


def _utf8_prefix(raw: bytes) -> str | None:
    """`raw` decoded without the incomplete character a cut left at its end; None when the
    rest is not UTF-8 either."""
    for cut in range(1, 4):
        try:
            return raw[:-cut].decode()
        except UnicodeDecodeError:
            continue
    return None


@dataclass(slots=True)
class Exchange:
    """One request through the proxy and what came of it. `status` is None when no response
    arrived (`error` says why); `upgrade` names the protocol a 101 switched to (its frames are
    passed through, not recorded)."""

    service: str
    started: float  # time.time() when the request head arrived
    client: str  # "host:port" of the caller
    method: str
    url: str
    http_version: str
    request_headers: Headers
    request_body: Body
    client_service: str | None = None  # the local service that called, when known
    status: int | None = None
    reason: str = ""
    response_headers: Headers = field(default_factory=list)
    response_body: Body = field(default_factory=lambda: Body(0))
    duration: float | None = None  # seconds from the request head to the response's end
    upgrade: str | None = None
    error: str | None = None
    id: int = 0  # given by the store when the exchange is added

    def request_data(self, data: bytes) -> None:
        """A piece of the request's body passed on."""
        self.request_body.add(data)

    def response_seen(self, status: int, reason: str, headers: Headers, body_limit: int) -> None:
        """The response's head: its status, reason and headers (credentials masked); its body,
        up to `body_limit` bytes, comes with `response_data`."""
        self.status, self.reason, self.response_headers = status, reason, headers
        self.response_body = Body(body_limit)

    def response_data(self, data: bytes) -> None:
        """A piece of the response's body passed on."""
        self.response_body.add(data)

    def switched(self) -> None:
        """The response switched protocols: to its Upgrade header's, else the method's
        (CONNECT)."""
        for headers in (self.response_headers, self.request_headers):
            for name, value in headers:
                if name.lower() == "upgrade":
                    self.upgrade = value
                    return
        self.upgrade = self.method

    def failed(self, error: str) -> None:
        """The exchange broke off, or no response came, for `error`."""
        self.error = error

    def finished(self, duration: float, client_service: str | None) -> None:
        """The exchange took `duration` seconds; `client_service` called (when known)."""
        self.duration, self.client_service = duration, client_service

    def summary(self) -> dict[str, Any]:
        """The fields a listing shows: no headers, body sizes only."""
        return {
            "id": self.id,
            "service": self.service,
            "time": self.started,
            "client": self.client,
            "client_service": self.client_service,
            "method": self.method,
            "url": self.url,
            "status": self.status,
            "duration_ms": None if self.duration is None else round(self.duration * 1000, 3),
            "request_size": self.request_body.size,
            "response_size": self.response_body.size,
            "upgrade": self.upgrade,
            "error": self.error,
        }

    def to_json(self) -> dict[str, Any]:
        """Everything recorded."""
        return {
            **self.summary(),
            "http_version": self.http_version,
            "reason": self.reason,
            "request": {
                "headers": [list(pair) for pair in self.request_headers],
                "body": self.request_body.to_json(),
            },
            "response": {
                "headers": [list(pair) for pair in self.response_headers],
                "body": self.response_body.to_json(),
            },
        }


class TrafficStore:
    """The last `keep` exchanges of each service, numbered from 1 in the order they ended."""

    def __init__(self, keep: int = DEFAULT_KEEP) -> None:
        self.keep = keep
        self._rings: dict[str, collections.deque[Exchange]] = {}
        self.feed = Feed()  # numbers the exchanges; followers poll it
        self.created = time.time()

    def add(self, exchange: Exchange) -> None:
        """Number and keep `exchange` (the oldest of its service goes when the ring is full),
        and wake those waiting for new exchanges."""
        exchange.id = self.feed.add()
        ring = self._rings.get(exchange.service)
        if ring is None:
            ring = self._rings[exchange.service] = collections.deque(maxlen=self.keep)
        ring.append(exchange)

    def services(self) -> list[str]:
        """The services with a ring, sorted."""
        return sorted(self._rings)

    def select(
        self, services: Iterable[str] = (), after: int = 0, last: int | None = None
    ) -> list[Exchange]:
        """The kept exchanges of `services` (all when empty) numbered above `after`, oldest
        first; only the `last` newest when given."""
        names = list(services) or list(self._rings)
        chosen = [
            exchange
            for name in names
            for exchange in self._rings.get(name, ())
            if exchange.id > after
        ]
        chosen.sort(key=lambda exchange: exchange.id)
        if last is None:
            return chosen
        return chosen[len(chosen) - last :] if last > 0 else []

    def get(self, exchange_id: int) -> Exchange | None:
        """The kept exchange numbered `exchange_id`."""
        for ring in self._rings.values():
            if ring and ring[0].id <= exchange_id <= ring[-1].id:
                for exchange in ring:
                    if exchange.id == exchange_id:
                        return exchange
        return None
