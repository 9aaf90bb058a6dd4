"""Leader election through a Consul lock: a session, `acquire` on a key, renewal every ttl/2,
and a blocking GET on the key while following. The election is a task on the loop whose Consul
calls go through `ConsulAPI`.

A leader confirms every CONFIRM seconds that the key is still its session's, and demotes at once
when it cannot: Consul invalidates the session when the node's serfHealth check fails (its agent
cut off from the servers, typically within seconds), and hands the lock on after lock-delay, well
before the ttl. Measured on a real cluster (bench/cluster.py): an old primary that only
demoted at renewal + ttl was still leader 2 s after the new one was elected. A confirmation
that gets no answer within CONFIRM_DEADLINE counts as failed (a cut-off agent holds the call
until its RPC to a server times out, longer than the cluster takes to elect another). It also
demotes when the last good renewal is older than the ttl."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from pilot.config.consul_model import Leader
from pilot.consul.api import ConsulAPI
from pilot.consul.calls import ConsulCalls
from pilot.consul.errors import ConsulError
from pilot.events import Code
from pilot.log import Log

RETRY = 1.0  # seconds between attempts after an error or a refused acquire
CONFIRM = 1.0  # seconds between a leader's checks that the lock is still its own
CONFIRM_DEADLINE = 2.0  # seconds a leader's renewal or check may take before it demotes
RESIGN_TIMEOUT = 3.0


class LeaderElection:
    """Takes part in one election for `job`. `on_role(code)` runs with `elected` when this
    instance takes the lock, `demoted` when it loses it, and `following` when, not being the
    leader, it sees a new holder (the first one included)."""

    def __init__(
        self,
        job: str,
        spec: Leader,
        value: str,
        calls: ConsulCalls,
        log: Log,
        on_role: Callable[[Code], None],
    ) -> None:
        self.job, self.spec, self.value, self._calls, self._log = job, spec, value, calls, log
        self._api = ConsulAPI(calls, spec.ttl)
        # A leader's renewal or check of the lock, given up on after CONFIRM_DEADLINE.
        self._confirming = ConsulAPI(calls, min(spec.ttl, CONFIRM_DEADLINE))
        self._on_role = on_role
        self._loop = asyncio.get_running_loop()
        self.elected = False
        self.leader_value: str | None = None
        self._valid_until = 0.0
        self._deadline: asyncio.TimerHandle | None = None
        self._stopping = False
        self._reset = False  # start over with a new session (demoted, or paused)
        self._paused = False
        self._wake = asyncio.Event()  # ends a wait early: stop, reset or pause
        self.session: str | None = None
        self._resigned: str | None = None  # the session resign() ended
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Enter the election."""
        self._task = self._loop.create_task(self._run())

    def close(self) -> None:
        """Stop at once (pilot is exiting; `resign` has handed leadership over)."""
        if self._task is not None:
            self._task.cancel()
        if self._deadline is not None:
            self._deadline.cancel()

    async def resign(self) -> None:
        """Leave the election: a leader releases the key (a release has no lock delay) and
        destroys its session, so another instance takes over at once. Once is enough."""
        if self._stopping:
            return
        self._stopping = True
        self._wake.set()
        was_leader = self.elected
        self._demote("resigning")
        session = self._resigned = self.session
        if session is not None:
            await self._end_session(self.spec.key if was_leader else None, session)

    def pause(self, paused: bool) -> None:
        """Maintenance: release the lock and stay out of the election until unpaused."""
        self._paused = paused
        if paused:
            self._reset = True
            self._wake.set()
            self._demote("maintenance")

    # The role.

    def _held(self, renewed_at: float) -> None:
        """The lock was acquired, or the session renewed, at `renewed_at` (monotonic)."""
        if self._stopping:
            return
        if self.elected and time.monotonic() > self._valid_until:
            self._demote("the last renewal is older than the ttl")
            return
        self._valid_until = renewed_at + self.spec.ttl
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = self._loop.call_later(
            max(0.0, self._valid_until - time.monotonic()), self._expired
        )
        if not self.elected:
            self.elected = True
            self.leader_value = self.value
            self._log.info(f"{self.job} elected leader of {self.spec.key}")
            self._on_role(Code.ELECTED)

    def _expired(self) -> None:
        self._deadline = None
        if self.elected and time.monotonic() > self._valid_until:
            self._demote("no successful renewal within the ttl")

    def _seen(self, value: str | None) -> None:
        changed = value != self.leader_value
        self.leader_value = value
        if changed and value is not None and not self.elected and not self._stopping:
            self._log.info(f"{self.job} follows {value}")
            self._on_role(Code.FOLLOWING)

    def _demote(self, why: str) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        if not self.elected:
            return
        self.elected = False
        self.leader_value = None  # unknown until the new holder is seen
        self._reset = True  # start over with a new session
        self._wake.set()
        self._log.warn(f"{self.job} demoted: {why}")
        self._on_role(Code.DEMOTED)

    # The election's task.

    async def _run(self) -> None:
        spec, ttl = self.spec, self.spec.ttl
        index, holding, last_renew = 0, False, 0.0
        while not self._stopping:
            try:
                if self._reset:
                    self._reset = False
                    if self.session is not None:
                        # a release has no lock delay: the next leader is quick
                        await self._end_session(spec.key if holding else None, self.session)
                    self.session, holding, index = None, False, 0
                if self._paused:
                    await self._sleep(RETRY)
                    continue
                if self.session is None:
                    self.session = await self._api.session_create(
                        f"pilot {self.job}", ttl, spec.lock_delay
                    )
                    last_renew = time.monotonic()
                session = self.session
                if not holding:
                    if time.monotonic() > last_renew + ttl / 2:
                        started = time.monotonic()
                        # a follower's session lives on too
                        await self._api.session_renew(session)
                        last_renew = started
                    if await self._api.kv_put(spec.key, self.value, acquire=session):
                        holding = True  # valid for ttl from the last renewal, not from now
                        self._held(last_renew)
                        continue
                    index = await self._follow(index)
                    continue
                renew_at = last_renew + ttl / 2
                await self._sleep(
                    max(0.0, min(renew_at, time.monotonic() + CONFIRM) - time.monotonic())
                )
                if self._stopping:
                    break
                if self._reset:
                    continue  # demoted or paused: release at once, not at the next renewal
                started = time.monotonic()
                renewing = started >= renew_at
                try:
                    if renewing:
                        await self._confirming.session_renew(session)
                    _, item = await self._confirming.kv_get(spec.key)
                except Exception as error:
                    if not self._stopping:
                        self._demote(f"cannot confirm the lock: {self._calls.describe(error)}")
                    raise
                if item is None or item.get("Session") != session:
                    holding = False
                    if not self._stopping:
                        self._demote("the lock is no longer ours")
                    continue
                if renewing:
                    last_renew = started
                    self._held(started)
            except Exception as error:
                self._log.debug(f"{self.job} election: {self._calls.describe(error)}")
                if _is_not_found(error) or "invalid session" in str(error):
                    if holding and not self._stopping:
                        self._demote("the session is gone")
                    self.session, holding = None, False
                index = 0
                await self._sleep(RETRY)
        if self.session is not None and self.session != self._resigned:
            # Stopped in the middle of a call that created a session, or took the lock, after
            # resign() looked: end that one too, or it would hold the lock until its TTL.
            await self._end_session(spec.key if holding else None, self.session)

    async def _follow(self, index: int) -> int:
        """Wait (blocking GET) until the lock may be free; returns the index to wait from."""
        key, wait = self.spec.key, self.spec.ttl / 2  # renew the session in time
        new_index, item = await self._api.kv_get(key, index, wait)
        held_by = item.get("Session") if item else None
        value = item.get("Value") if item else None
        self._seen(value.decode("utf-8", "replace") if held_by and value else None)
        if held_by is None:
            # Free, yet our acquire was refused: a lock delay runs. Retry soon, without blocking.
            await self._sleep(max(0.05, min(RETRY, self.spec.lock_delay / 4)))
            return 0
        return 0 if new_index < index else new_index

    async def _sleep(self, seconds: float) -> None:
        """Wait `seconds`, less if woken (stop, reset, pause)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()

    async def _end_session(self, key: str | None, session: str) -> None:
        """Release `key` (if held) and destroy `session`; at shutdown Consul may be gone, and
        the session's TTL then frees the lock."""
        api = ConsulAPI(self._calls, RESIGN_TIMEOUT)
        with contextlib.suppress(Exception):
            if key is not None:
                await api.kv_put(key, self.value, release=session)  # a release rewrites the value
            await api.session_destroy(session)


def _is_not_found(error: Exception) -> bool:
    return isinstance(error, ConsulError) and (
        error.status == 404 or "not found" in error.message.lower()
    )
