"""Everything one registry holds, assembled: the store, the catalog, the local agent, the KV
store and the sessions, and the timers that drive them."""

from __future__ import annotations

from collections.abc import Callable

from pilot.devconsul.agent import Agent, AgentOptions
from pilot.devconsul.catalog import DATACENTER, Catalog
from pilot.devconsul.events import Events
from pilot.devconsul.kv import KV
from pilot.devconsul.scheduler import Scheduler
from pilot.devconsul.sessions import Sessions
from pilot.devconsul.store import Store

TOMBSTONE_REAP_INTERVAL = 30.0  # tombstone_ttl_granularity


class Registry:
    """The state of a single-node datacenter."""

    def __init__(
        self, node: str, address: str, options: AgentOptions, datacenter: str = DATACENTER
    ) -> None:
        self.datacenter = datacenter
        self.store = Store()
        self.scheduler = Scheduler()
        self.catalog = Catalog(self.store, datacenter)
        self.kv = KV(self.store)
        self.sessions = Sessions(self.store, self.catalog, self.kv, self.scheduler)
        self.agent = Agent(self.store, self.catalog, self.scheduler, node, address, options)
        self.events = Events(self.store)
        self.prometheus_retention = 0.0  # telemetry.prometheus_retention_time, seconds
        self.on_leave: Callable[[], None] | None = None  # PUT /v1/agent/leave

    def start(self) -> None:
        """Join the catalog and start the timers."""
        self.scheduler.start()
        self.agent.start()
        self.scheduler.every(TOMBSTONE_REAP_INTERVAL, self._reap_kv)

    def stop(self) -> None:
        """Release blocked queries, stop the timers and the checks."""
        self.store.close()
        self.scheduler.stop()
        self.agent.stop()

    def _reap_kv(self) -> None:
        with self.store.lock:
            self.kv.reap()
            self.store.forget()
