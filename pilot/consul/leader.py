"""Leader election through a Consul lock: a session, `acquire` on a key, renewal every ttl/2,
and a blocking GET on the key while following. Consul calls run on the election's own thread;
the role lives on the event loop, which demotes at once when the last good renewal is older
than the ttl (Consul could hand the lock over after 2 x ttl)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

from pilot.config.consul_model import Leader
from pilot.consul.client import ConsulTarget, make_client
from pilot.log import Log

RETRY = 1.0  # seconds between attempts after an error or a refused acquire


class LeaderElection:
    """Takes part in one election for `job`. `on_role(code)` runs on the loop with "elected"
    when this instance takes the lock, "demoted" when it loses it, and "following" when, not
    being the leader, it sees a new holder (the first one included)."""

    def __init__(
        self,
        job: str,
        spec: Leader,
        value: str,
        target: ConsulTarget,
        log: Log,
        on_role: Callable[[str], None],
    ) -> None:
        self.job, self.spec, self.value, self._target, self._log = job, spec, value, target, log
        self._on_role = on_role
        self._loop = asyncio.get_running_loop()
        self.elected = False
        self.leader_value: str | None = None
        self._valid_until = 0.0
        self._deadline: asyncio.TimerHandle | None = None
        self._stop = threading.Event()
        self._reset = threading.Event()
        self._paused = threading.Event()
        self._wake = threading.Event()  # set with _stop or _reset: the leader's wait ends early
        self.session: str | None = None
        self._resigned: str | None = None  # the session resign() ended
        self._thread = threading.Thread(target=self._run, name=f"leader {job}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    async def resign(self) -> None:
        """Leave the election: a leader releases the key (a release has no lock delay) and
        destroys its session, so another instance takes over at once."""
        self._stop.set()
        self._wake.set()
        was_leader = self.elected
        self._demote("resigning")
        session = self._resigned = self.session
        if session is not None:
            key = self.spec.key if was_leader else None
            await self._loop.run_in_executor(None, _resign, self._target, key, self.value, session)

    def pause(self, paused: bool) -> None:
        """Maintenance: release the lock and stay out of the election until unpaused."""
        if paused:
            self._paused.set()
            self._reset.set()
            self._wake.set()
            self._demote("maintenance")
        else:
            self._paused.clear()

    # --- on the loop ---------------------------------------------------------------------

    def _held(self, renewed_at: float) -> None:
        """The thread acquired the lock or renewed the session at `renewed_at` (monotonic)."""
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
            self._on_role("elected")

    def _expired(self) -> None:
        self._deadline = None
        if self.elected and time.monotonic() > self._valid_until:
            self._demote("no successful renewal within the ttl")

    def _lost(self, why: str) -> None:
        self._demote(why)

    def _seen(self, value: str | None) -> None:
        changed = value != self.leader_value
        self.leader_value = value
        if changed and value is not None and not self.elected and not self._stop.is_set():
            self._log.info(f"{self.job} follows {value}")
            self._on_role("following")

    def _demote(self, why: str) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        if not self.elected:
            return
        self.elected = False
        self.leader_value = None  # unknown until the thread sees the new holder
        self._reset.set()  # the thread starts over with a new session
        self._wake.set()
        self._log.warn(f"{self.job} demoted: {why}")
        self._on_role("demoted")

    def _post(self, callback: Callable[..., None], *args: Any) -> None:
        if not self._stop.is_set() or callback is self._seen:
            self._loop.call_soon_threadsafe(callback, *args)

    # --- on the election thread ----------------------------------------------------------

    def _run(self) -> None:
        client = make_client(self._target, timeout=self.spec.ttl)
        index, holding, last_renew = 0, False, 0.0
        while not self._stop.is_set():
            try:
                if self._reset.is_set():
                    self._reset.clear()
                    if self.session is not None:
                        if holding:  # a release has no lock delay: the next leader is quick
                            client.kv.put(self.spec.key, self.value, release=self.session)
                        client.session.destroy(self.session)
                    self.session, holding, index = None, False, 0
                if self._paused.is_set():
                    self._stop.wait(RETRY)
                    continue
                if self.session is None:
                    self.session = client.session.create(
                        name=f"pilot {self.job}",
                        behavior="release",
                        ttl=self.spec.ttl,  # py-consul writes "<n>s": 10.5 stays 10.5
                        lock_delay=self.spec.lock_delay,
                    )
                    last_renew = time.monotonic()
                if not holding:
                    if time.monotonic() > last_renew + self.spec.ttl / 2:
                        started = time.monotonic()
                        client.session.renew(self.session)  # a follower's session lives on too
                        last_renew = started
                    if client.kv.put(self.spec.key, self.value, acquire=self.session):
                        holding = True  # valid for ttl from the last renewal, not from now
                        self._post(self._held, last_renew)
                        continue
                    index = self._follow(client, index)
                    continue
                self._wake.wait(max(0.0, last_renew + self.spec.ttl / 2 - time.monotonic()))
                self._wake.clear()
                if self._stop.is_set():
                    break
                if self._reset.is_set():
                    continue  # demoted or paused: release at once, not at the next renewal
                started = time.monotonic()
                client.session.renew(self.session)
                _, item = client.kv.get(self.spec.key)
                if item is None or item.get("Session") != self.session:
                    holding = False
                    self._post(self._lost, "the lock is no longer ours")
                    continue
                last_renew = started
                self._post(self._held, started)
            except Exception as error:
                self._log.debug(f"{self.job} election: {str(error)[:200]}")
                if _is_not_found(error) or "invalid session" in str(error):
                    if holding:
                        self._post(self._lost, "the session is gone")
                    self.session, holding = None, False

                index = 0
                self._stop.wait(RETRY)
        if self.session is not None and self.session != self._resigned:
            # Stopped in the middle of a call that created a session, or took the lock, after
            # resign() looked: end that one too, or it would hold the lock until its TTL.
            _resign(self._target, self.spec.key if holding else None, self.value, self.session)

    def _follow(self, client: Any, index: int) -> int:
        """Wait (blocking GET) until the lock may be free; returns the index to wait from."""
        # Wait at most ttl/2, so that the session is renewed in time.
        new_index, item = client.kv.get(
            self.spec.key, index=index or None, wait=f"{self.spec.ttl / 2:g}s"
        )

        held_by = item.get("Session") if item else None
        value = item.get("Value") if item else None
        self._post(self._seen, value.decode("utf-8", "replace") if held_by and value else None)
        if held_by is None:
            # Free, yet our acquire was refused: a lock delay runs. Retry soon, without blocking.
            self._stop.wait(max(0.05, min(RETRY, self.spec.lock_delay / 4)))
            return 0
        new = int(new_index or 0)

        return 0 if new < index else new


def _resign(target: ConsulTarget, key: str | None, value: str, session: str) -> None:
    # At shutdown Consul may be gone; the session's TTL then frees the lock.
    with contextlib.suppress(Exception):
        client = make_client(target, timeout=3.0)
        if key is not None:
            client.kv.put(key, value, release=session)  # a release rewrites the value
        client.session.destroy(session)


def _is_not_found(error: Exception) -> bool:
    return type(error).__name__ == "NotFound" or "not found" in str(error).lower()
