"""Blocking queries, with the rules of Consul's `blockingquery.Query`.

`?index=0` or no index answers at once. Otherwise the query answers as soon as its index is
greater than the requested one; an equal or greater ("future") index waits for a change of what
the query watches, or for `?wait` (default 5 min, at most 10 min, plus up to wait/16 of
jitter), and then answers with the current index. A query whose result is "not found" (a
missing KV key) keeps waiting while the result stays missing, even if the index moves.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from pilot.devconsul.go.durations import SECOND, parse_go_duration
from pilot.devconsul.routes.request import Request
from pilot.devconsul.state.errors import ConsulError
from pilot.devconsul.state.store import Store, Watch

DEFAULT_WAIT = 300.0  # default_query_time
MAX_WAIT = 600.0  # max_query_time


@dataclass
class Result:
    """One evaluation of a query: its index, its answer, what to watch for a change."""

    index: int
    body: Any
    watch: Watch
    found: bool = True


def wait_params(request: Request) -> tuple[int, float]:
    """(index, seconds to wait including jitter) from `?index` and `?wait`.

    Raises:
        ConsulError: 400 "Invalid wait time" or "Invalid index", as Consul answers.
    """
    wait = _wait(request)
    index = 0
    raw_index = request.param("index")
    if raw_index:
        if not (raw_index.isascii() and raw_index.isdigit()) or int(raw_index) >= 2**64:
            raise ConsulError(400, "Invalid index")
        index = int(raw_index)
    return index, jittered(wait)


def _wait(request: Request) -> float:
    raw = request.param("wait")
    if not raw:
        return 0.0
    try:
        return parse_go_duration(raw) / SECOND
    except ValueError:
        raise ConsulError(400, "Invalid wait time") from None


def jittered(wait: float) -> float:
    """Consul's RPCQueryTimeout: default and maximum applied, then up to wait/16 added."""
    wait = DEFAULT_WAIT if wait <= 0 else min(wait, MAX_WAIT)
    return wait + random.uniform(0, wait / 16)


def block(store: Store, request: Request, query: Callable[[], Result]) -> Result:
    """Evaluate `query` under the store's lock, waiting as Consul's blocking queries do."""
    min_index, timeout = wait_params(request)
    store.lock.acquire()
    held = True
    try:
        result = query()
        if min_index == 0:
            return result
        deadline = time.monotonic() + timeout
        key = _memo_key(request)
        not_found = False
        while True:  # the lock is held here
            if not result.found:
                if not_found:
                    min_index = result.index  # still missing: only its appearance counts
                not_found = True
            if result.index > min_index:
                return result
            held = False  # wait_unlocked releases it
            if not store.wait_unlocked(result.watch, deadline):
                return result
            # Woken by a write: the watchers of this query share one answer computed after
            # it, and take it without queueing for the lock.
            shared: Result | None = store.memo.get(key)
            if shared is not None and shared.found and shared.index > min_index:
                return shared
            store.lock.acquire()
            held = True
            result = store.memo.get(key) or store.memo.setdefault(key, query())
    finally:
        if held:
            store.lock.release()


def _memo_key(request: Request) -> str:
    """What identifies a query's answer: all but the blocking parameters."""
    params = sorted((k, v) for k, v in request.params.items() if k not in ("index", "wait"))
    return f"{request.method} {request.path}?{urlencode(params, doseq=True)}"


def block_on_hash(
    store: Store, request: Request, query: Callable[[], tuple[str, Any]], watch: Watch
) -> tuple[str, Any]:
    """Hash-based blocking (`?hash=`) of agent-local endpoints: wait while the content hash
    stays the one the client has; `query` answers (hash, body)."""
    wanted = request.param("hash") or ""
    deadline = time.monotonic() + jittered(_wait(request))
    with store.lock:
        while True:
            current = query()
            if not wanted or current[0] != wanted or not store.wait(watch, deadline):
                return current
