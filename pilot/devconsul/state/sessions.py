"""Sessions: creation rules, TTL expiry at twice the TTL, and invalidation (destroy, expiry,
a linked check turning critical or going away, the node going away), which releases or deletes
the keys the session holds and puts them under its lock delay."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from pilot.devconsul.go.durations import SECOND, parse_go_duration
from pilot.devconsul.state.catalog import CRITICAL, Catalog
from pilot.devconsul.state.errors import ConsulError
from pilot.devconsul.state.kv import KV
from pilot.devconsul.state.scheduler import Scheduler, Timer
from pilot.devconsul.state.store import Store, Txn

TABLE = "sessions"
TTL_MULTIPLIER = 2  # SessionTTLMultiplier: the server waits twice the TTL
TTL_MIN, TTL_MAX = 10 * SECOND, 24 * 3600 * SECOND
RELEASE, DELETE = "release", "delete"
APPLY_FAILED = "apply failed: "  # Session.Apply's wrap of a state store error


def session_topic(session_id: str) -> str:
    """What a watch of one session waits on."""
    return "session." + session_id


@dataclass
class Session:
    """A session as Consul stores it (the TTL string as given)."""

    id: str
    node: str
    name: str = ""
    lock_delay: int = 15 * SECOND  # nanoseconds
    behavior: str = RELEASE
    ttl: str = ""
    node_checks: list[str] = field(default_factory=list)
    service_checks: list[dict[str, Any]] | None = None
    checks: list[str] = field(default_factory=list)  # the deprecated field, as given
    create_index: int = 0
    modify_index: int = 0
    expires: float | None = None  # monotonic
    timer: Timer | None = None

    def check_ids(self) -> list[str]:
        """Every check the session depends on (Consul's CheckIDs)."""
        return [*self.checks, *self.node_checks, *(c["ID"] for c in self.service_checks or [])]


class Sessions:
    """The sessions table."""

    def __init__(self, store: Store, catalog: Catalog, kv: KV, scheduler: Scheduler) -> None:
        self.store, self.catalog, self.kv, self.scheduler = store, catalog, kv, scheduler
        self.table: dict[str, Session] = {}

    def index(self) -> int:
        """The sessions table's index."""
        return self.store.index_of(TABLE)

    def create(self, txn: Txn, session: Session) -> None:
        """Validate and store a new session (Consul's Session.Apply and state checks).

        Raises:
            ConsulError: 500 with Consul's texts for a bad behavior, TTL, node or check.
        """
        if session.behavior not in (RELEASE, DELETE):
            raise ConsulError(500, f"Invalid Behavior setting '{session.behavior}'")
        ttl = 0
        if session.ttl:
            try:
                ttl = parse_go_duration(session.ttl)
            except ValueError as error:
                raise ConsulError(500, f"Session TTL '{session.ttl}' invalid: {error}") from None
            if ttl != 0 and not TTL_MIN <= ttl <= TTL_MAX:
                raise ConsulError(
                    500, f"Invalid Session TTL '{ttl}', must be between [10s=24h0m0s]"
                )
        if session.node not in self.catalog.nodes:
            raise ConsulError(500, APPLY_FAILED + "Missing node registration")
        for check_id in session.check_ids():
            check = self.catalog.checks.get((session.node, check_id))
            if check is None:
                raise ConsulError(500, APPLY_FAILED + f"Missing check '{check_id}' registration")
            if check.status == CRITICAL:
                raise ConsulError(500, APPLY_FAILED + f"Check '{check_id}' is in critical state")
        session.create_index = session.modify_index = txn.touch(TABLE)
        txn.notify(session_topic(session.id))
        self.table[session.id] = session
        if ttl:
            self._arm(session, ttl / SECOND)

    def renew(self, session_id: str) -> Session | None:
        """Restart a session's TTL clock (at twice its TTL); None if it does not exist."""
        with self.store.lock:
            session = self.table.get(session_id)
            if session is not None and session.ttl:
                ttl = parse_go_duration(session.ttl)
                if ttl:
                    self._arm(session, ttl / SECOND)
            return session

    def destroy(self, txn: Txn, session_id: str) -> None:
        """Invalidate a session: held keys are released or deleted, under the lock delay."""
        session = self.table.pop(session_id, None)
        if session is None:
            return
        if session.timer is not None:
            session.timer.cancel()
        txn.touch(TABLE)
        txn.notify(session_topic(session_id))
        self.kv.lose_holder(
            txn, session_id, session.behavior == DELETE, session.lock_delay / SECOND
        )

    def new_id(self) -> str:
        """A fresh session id (a UUID)."""
        while True:
            candidate = str(uuid.uuid4())
            if candidate not in self.table:
                return candidate

    def _arm(self, session: Session, ttl: float) -> None:
        if session.timer is not None:
            session.timer.cancel()
        session.expires = time.monotonic() + ttl * TTL_MULTIPLIER
        session.timer = self.scheduler.call_later(
            ttl * TTL_MULTIPLIER, lambda: self._expire(session.id)
        )

    def _expire(self, session_id: str) -> None:
        with self.store.write() as txn:
            session = self.table.get(session_id)
            expires = session.expires if session is not None else None
            if expires is not None and expires <= time.monotonic():
                self.destroy(txn, session_id)

    def catalog_changed(self, txn: Txn, node: str, check_id: str | None) -> None:
        """The catalog's invalidation hook: a check of `node` went critical or away (or the
        node itself, `check_id` None); the sessions depending on it end."""
        for session in list(self.table.values()):
            if session.node == node and (check_id is None or check_id in session.check_ids()):
                self.destroy(txn, session.id)
