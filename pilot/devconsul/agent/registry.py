"""Everything one registry holds, assembled: the store, the catalog, the local agent, the KV
store and the sessions, and the timers that drive them."""

from __future__ import annotations

from collections.abc import Callable

from pilot.devconsul.agent.local import Agent, AgentOptions
from pilot.devconsul.checks.scripts import ScriptRunner
from pilot.devconsul.state.catalog import DATACENTER, Catalog, Invalidation
from pilot.devconsul.state.events import Events
from pilot.devconsul.state.kv import KV
from pilot.devconsul.state.scheduler import Scheduler
from pilot.devconsul.state.sessions import Sessions
from pilot.devconsul.state.store import Store

TOMBSTONE_REAP_INTERVAL = 30.0  # tombstone_ttl_granularity


class Registry:
    """The state of a single-node datacenter."""

    def __init__(
        self,
        node: str,
        address: str,
        options: AgentOptions,
        datacenter: str = DATACENTER,
        *,
        script_checks: str = "",
        run_script: ScriptRunner | None = None,
        prometheus_retention: float = 0.0,
        on_leave: Callable[[], None] | None = None,
    ) -> None:
        self.datacenter = datacenter
        self.store = Store()
        self.scheduler = Scheduler()
        invalidations: list[Invalidation] = []  # the sessions' hook, added once they exist
        self.catalog = Catalog(self.store, invalidations, datacenter)
        self.kv = KV(self.store)
        self.sessions = Sessions(self.store, self.catalog, self.kv, self.scheduler)
        invalidations.append(self.sessions.catalog_changed)
        self.agent = Agent(
            self.store,
            self.catalog,
            self.scheduler,
            node,
            address,
            options,
            script_checks=script_checks,
            run_script=run_script,
        )
        self.events = Events(self.store)
        self.prometheus_retention = prometheus_retention  # telemetry's, in seconds
        self.on_leave = on_leave  # PUT /v1/agent/leave

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
