"""Blocking queries on Consul: one long poll per distinct query, shared by all its users."""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pilot.consul.api import ConsulAPI
from pilot.log import Log

MIN_GAP = 0.1  # at most one fetch per 100 ms per query
# After Consul comes back (a restarted agent starts empty), an answer with fewer instances is
# held this long, so the instances have time to register again before anyone acts on it.
RECOVERY_GRACE = 15.0


@dataclass(frozen=True)
class Query:
    """One thing asked of Consul."""

    kind: str  # "service", "catalog", "key", "prefix" or "leader"

    target: str
    tags: tuple[str, ...] = ()
    datacenter: str | None = None
    passing: bool = True
    wait: float = 60.0

    def __str__(self) -> str:
        tags = f" tags={','.join(self.tags)}" if self.tags else ""
        return f"{self.kind} {self.target}{tags}"


@dataclass(frozen=True)
class Instance:
    """One instance of a service, as templates and jobs see it."""

    id: str
    name: str
    address: str
    port: int
    tags: tuple[str, ...]
    meta: tuple[tuple[str, str], ...]
    node: str
    status: str

    @property
    def identity(self) -> tuple[Any, ...]:
        """What a `changed` event compares."""
        return (self.id, self.address, self.port, self.tags, self.meta)


Listener = Callable[[Any], None]


class LongPoll:
    """Repeats one blocking query, as a task on the loop, and hands each new answer on.

    After a transport error, or when Consul answers an index lower than the one held, the
    index resets to 0 so the next answer comes at once. The last good answer is kept while
    Consul is unreachable: errors are never delivered as "no data".
    """

    def __init__(
        self,
        query: Query,
        api: ConsulAPI,
        deliver: Callable[[Any], None],
        log: Log,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self.query, self._api = query, api
        self._deliver, self._log, self._on_error = deliver, log, on_error
        self._task: asyncio.Task[None] | None = None
        self._delivered: Any = None  # the last answer handed on
        self._rejected: list[str] = []  # the malformed instances last said

    def start(self, recovering: bool = False) -> None:
        """Start polling (`recovering`: Consul is back from an outage, see `_poll`)."""
        self._task = asyncio.get_running_loop().create_task(self._poll(recovering))

    def restart(self) -> None:
        """Start over from index 0: the agent restarted, and a long poll still waiting with
        the old agent's index would be held by the new one for its whole wait."""
        self.stop()
        self.start(recovering=True)

    def stop(self) -> None:
        """Stop polling; a call in flight is given up on, its connection closed."""
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _poll(self, recovering: bool) -> None:
        # recovering: Consul just came back; its first answers may precede re-registrations
        loop = asyncio.get_running_loop()
        index, delay, last_fetch = 0, MIN_GAP, 0.0
        held: Any = None
        hold_until = 0.0
        while True:
            gap = last_fetch + MIN_GAP - loop.time()
            if gap > 0:
                await asyncio.sleep(gap)
            last_fetch = loop.time()
            if held is not None and last_fetch >= hold_until:
                self._hand_on(held)
                held, recovering = None, False
            wait = self.query.wait if held is None else max(MIN_GAP, hold_until - last_fetch)
            rejected: list[str] = []
            try:
                new_index, data = await fetch(self._api, self.query, index, wait, rejected)
            except Exception as error:
                if self._on_error is not None:
                    self._on_error("watch")
                self._log.debug(f"watch {self.query}: {self._api.calls.describe(error)}")
                index, recovering = 0, True
                await asyncio.sleep(random.uniform(0.5, 1.0) * delay)
                delay = min(delay * 2, 1.0)
                continue
            delay = MIN_GAP
            if rejected != self._rejected:
                for reason in rejected:
                    self._log.warn(f"watch {self.query}: left out malformed {reason}")
                self._rejected = rejected
            new_index = max(new_index, 1)
            if new_index < index:
                index = 0  # the index went backwards: a restarted or restored registry
            elif new_index == index:
                continue  # the wait ran out with nothing new
            else:
                index = new_index
            if (
                recovering
                and self.query.kind == "service"
                and self._delivered is not None
                and len(data) < len(self._delivered)
            ):
                if held is None:
                    hold_until = loop.time() + RECOVERY_GRACE
                    self._log.info(
                        f"watch {self.query}: Consul is back with fewer instances; "
                        f"holding the last answer up to {RECOVERY_GRACE:g}s"
                    )
                held = data
                continue
            held, recovering = None, False
            self._hand_on(data)

    def _hand_on(self, data: Any) -> None:
        self._delivered = data
        self._deliver(data)


async def fetch(
    api: ConsulAPI,
    query: Query,
    index: int = 0,
    wait_seconds: float | None = None,
    rejected: list[str] | None = None,
) -> tuple[int, Any]:
    """One (blocking when `index` > 0) query; returns (X-Consul-Index, normalised data). A
    malformed instance is left out of a service's answer, and said why in `rejected`."""
    wait = query.wait if wait_seconds is None else wait_seconds
    dc = query.datacenter
    if query.kind == "service":
        new_index, entries = await api.health_service(
            query.target, index, wait, query.passing, query.tags, dc
        )
        return new_index, _instances(entries, rejected)
    if query.kind == "leader":
        new_index, item = await api.kv_get(query.target, index, wait, dc=dc)
        held = isinstance(item, dict) and item.get("Session") and item.get("Value") is not None
        return new_index, item["Value"].decode("utf-8", "replace") if held else None
    if query.kind == "catalog":
        new_index, services = await api.catalog_services(index, wait, dc)
        return new_index, tuple(
            sorted((name, tuple(sorted(tags))) for name, tags in services.items())
        )
    new_index, items = await api.kv_get(
        query.target, index, wait, recurse=query.kind == "prefix", dc=dc
    )
    return new_index, _kv_values(items)


class WatchHub:
    """Shares one LongPoll per distinct query among any number of listeners."""

    def __init__(
        self, api: ConsulAPI, log: Log, on_error: Callable[[str], None] | None = None
    ) -> None:
        self._api, self._log, self._on_error = api, log, on_error
        self._polls: dict[Query, LongPoll] = {}
        self._listeners: dict[Query, list[Listener]] = {}
        self.latest: dict[Query, Any] = {}

    def subscribe(self, query: Query, listener: Listener, replay: bool = True) -> None:
        """Call `listener(data)` on the loop for every new answer to `query` (and at once with
        the latest answer, if there is one and `replay`)."""
        self._listeners.setdefault(query, []).append(listener)
        if replay and query in self.latest:
            listener(self.latest[query])
        if query not in self._polls:
            poll = LongPoll(
                query,
                self._api,
                functools.partial(self._deliver, query),
                self._log,
                self._on_error,
            )
            self._polls[query] = poll
            poll.start()

    def unsubscribe(self, query: Query, listener: Listener) -> None:
        """Stop delivering to `listener`; the last listener gone ends the query's long poll."""
        listeners = self._listeners.get(query, [])
        if listener in listeners:
            listeners.remove(listener)
        if not listeners:
            self._listeners.pop(query, None)
            self.latest.pop(query, None)
            poll = self._polls.pop(query, None)
            if poll is not None:
                poll.stop()

    def restart_all(self) -> None:
        """Every long poll starts over from index 0 (the agent restarted)."""
        for poll in self._polls.values():
            poll.restart()

    def close(self) -> None:
        """Stop every long poll."""
        for poll in self._polls.values():
            poll.stop()
        self._polls.clear()
        self._listeners.clear()

    def _deliver(self, query: Query, data: Any) -> None:
        if query not in self._polls:
            return
        self.latest[query] = data
        for listener in list(self._listeners.get(query, [])):
            listener(data)


def _instances(entries: Any, rejected: list[str] | None) -> tuple[Instance, ...]:
    found = []
    for position, entry in enumerate(entries or ()):
        try:
            if not isinstance(entry, dict):
                raise TypeError("not an object")
            found.append(_instance(entry))
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            if rejected is not None:
                rejected.append(f"instance {_name_of(entry, position)}: {_why(error)}")
    return tuple(found)


def _name_of(entry: Any, position: int) -> str:
    service = entry.get("Service") if isinstance(entry, dict) else None
    ident = service.get("ID") if isinstance(service, dict) else None
    return repr(ident) if isinstance(ident, str) else f"#{position + 1}"


def _why(error: Exception) -> str:
    if isinstance(error, KeyError):
        return f"no {error.args[0]}"
    return str(error).splitlines()[0][:120] if str(error) else type(error).__name__


def _instance(entry: dict[str, Any]) -> Instance:
    service, node = entry["Service"], entry["Node"]
    checks = entry.get("Checks") or []
    statuses = {check.get("Status") for check in checks}
    status = (
        "critical" if "critical" in statuses else "warning" if "warning" in statuses else "passing"
    )
    return Instance(
        id=service["ID"],
        name=service["Service"],
        address=service.get("Address") or node.get("Address", ""),
        port=_port(service.get("Port")),
        tags=tuple(service.get("Tags") or ()),
        meta=tuple(sorted((service.get("Meta") or {}).items())),
        node=node.get("Node", ""),
        status=status,
    )


def _port(value: Any) -> int:
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return value or 0
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    raise ValueError(f"Port {value!r} is not a port number")


def _kv_values(items: Any) -> tuple[tuple[str, bytes | None], ...]:
    if items is None:
        return ()
    if isinstance(items, dict):
        items = [items]
    return tuple(sorted((item["Key"], item.get("Value")) for item in items))
