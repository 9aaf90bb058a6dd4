"""pilot's Consul connections (pilot.consul.calls) against a real registry: one per call in
flight and bounded, long polls never starving short calls, and a long poll held past its
deadline given up with its connection."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Awaitable, Callable

import pytest

from pilot.consul import calls as calls_module
from pilot.consul.api import ConsulAPI
from pilot.consul.calls import MAX_LONG_POLLS, SHORT_CALLS, ConsulCalls
from pilot.consul.client import ConsulTarget
from pilot.consul.errors import ConsulUnreachable
from pilot.log import Log
from tests.helpers import Registry, scaled
from tests.integration.test_watch_stall import StallProxy


def target(address: str) -> ConsulTarget:
    host, port = address.rsplit(":", 1)
    return ConsulTarget(host, int(port), "http")


def run(work: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(work(), scaled(60)))


async def until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + scaled(seconds)
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {scaled(seconds):g}s waiting for {what}")
        await asyncio.sleep(0.01)


def test_a_short_call_goes_through_while_every_long_poll_waits(registry: Registry) -> None:
    """64 long polls wait on a key and a 65th waits for a place; a registration still goes
    through at once, and no more than 64 + 4 connections are ever open."""

    async def scenario() -> None:
        registry.put("/v1/kv/pool/key", "0")
        calls = ConsulCalls(target(registry.address), Log(stderr=io.StringIO()))
        api = ConsulAPI(calls)
        index, _ = await api.kv_get("pool/key")
        peak = 0

        def sample() -> bool:
            nonlocal peak
            peak = max(peak, calls.connections)
            return calls.connections >= MAX_LONG_POLLS

        polls = [
            asyncio.create_task(api.kv_get("pool/key", index, wait=30))
            for _ in range(MAX_LONG_POLLS + 1)
        ]
        try:
            await until(sample, 10, "64 long polls in flight")
            await asyncio.sleep(0.2)
            assert calls.connections == MAX_LONG_POLLS, "the 65th poll waits for a place"
            started = time.monotonic()
            await api.kv_put("pool/other", "x")
            assert time.monotonic() - started < scaled(2), "the short call waited"
            sample()
            assert not any(poll.done() for poll in polls)
            await api.kv_put("pool/key", "1")  # every long poll answers
            answers = await asyncio.gather(*polls)
            sample()
            assert all(item["Value"] == b"1" for _, item in answers[:-1])
            assert peak <= MAX_LONG_POLLS + SHORT_CALLS, peak
        finally:
            for poll in polls:
                poll.cancel()
            await calls.close()

    run(scenario)


def test_the_pool_is_bounded_and_reuses_free_connections(registry: Registry) -> None:
    """With 2 long polls allowed, 10 concurrent short calls open at most 2 + 4 connections,
    and calls one after another use one connection."""

    async def scenario() -> None:
        calls = ConsulCalls(target(registry.address), Log(stderr=io.StringIO()), long_polls=2)
        api = ConsulAPI(calls)
        peak = 0

        async def put(n: int) -> None:
            nonlocal peak
            peak = max(peak, calls.connections)
            await api.kv_put(f"pool/{n}", "x")
            peak = max(peak, calls.connections)

        try:
            await asyncio.gather(*(put(n) for n in range(10)))
            assert peak <= 2 + SHORT_CALLS
            await calls.close()
            calls = ConsulCalls(target(registry.address), Log(stderr=io.StringIO()))
            api = ConsulAPI(calls)
            for n in range(5):
                await api.kv_put(f"pool/{n}", "y")
            assert calls.connections == 1
        finally:
            await calls.close()

    run(scenario)


def test_a_long_poll_held_past_its_deadline_frees_its_connection(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An agent that trickles a long poll's answer for ever: the poll is given up at its
    deadline as "no answer", its connection closed and its place free; the next call works."""
    monkeypatch.setattr(calls_module, "POLL_MARGIN", 0.5)
    proxy = StallProxy(registry.address)

    async def scenario() -> None:
        log = io.StringIO()
        calls = ConsulCalls(target(proxy.address), Log(stderr=log), long_polls=1)
        api = ConsulAPI(calls)
        try:
            index, _ = await api.kv_get("stall/key")
            proxy.stalling.set()
            started = time.monotonic()
            with pytest.raises(ConsulUnreachable, match=r"no answer within 1\.6s"):
                await api.kv_get("stall/key", max(index, 1), wait=1)
            assert time.monotonic() - started < scaled(3)
            assert proxy.stalled, "the proxy did not hold the poll"
            assert calls.connections == 1  # the given-up client is free, its connection closed
            proxy.stalling.clear()
            await api.kv_put("stall/key", "x")  # short calls are not stalled by the proxy
            _, item = await api.kv_get("stall/key", max(index, 1), wait=1)
            assert item["Value"] == b"x", "the one long-poll place was given back"
            assert "unreachable (no answer within 1.6s)" in log.getvalue()
        finally:
            await calls.close()

    try:
        run(scenario)
    finally:
        proxy.close()
