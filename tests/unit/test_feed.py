"""pilot.feed: numbering, waiting, and the long poll over a store."""

from __future__ import annotations

import asyncio

from pilot.feed import Feed


def test_numbers_run_from_one() -> None:
    feed = Feed()
    assert feed.last == 0
    assert [feed.add(), feed.add(), feed.add()] == [1, 2, 3]
    assert feed.last == 3


def test_a_poll_answers_at_once_when_something_is_kept_above_after() -> None:
    async def scenario() -> tuple[object, int]:
        feed, kept = Feed(), []
        for text in "abc":
            kept.append((feed.add(), text))
        return await feed.poll(lambda after: [t for n, t in kept if n > after], 1, 60)

    assert asyncio.run(asyncio.wait_for(scenario(), 10)) == (["b", "c"], 3)


def test_a_poll_waits_for_what_it_wants_and_skips_the_rest() -> None:
    """Something the follower does not want (another job's line) wakes the poll, which goes
    back to waiting; what it wants ends it."""

    async def scenario() -> tuple[object, int]:
        feed, kept = Feed(), []
        loop = asyncio.get_running_loop()

        def keep(text: str) -> None:
            kept.append((feed.add(), text))

        loop.call_later(0.05, keep, "other")
        loop.call_later(0.1, keep, "wanted")
        return await feed.poll(
            lambda after: [t for n, t in kept if n > after and t == "wanted"], 0, 60
        )

    assert asyncio.run(asyncio.wait_for(scenario(), 10)) == (["wanted"], 2)


def test_a_poll_with_nothing_new_ends_after_its_wait() -> None:
    async def scenario() -> tuple[tuple[object, int], float]:
        feed = Feed()
        feed.add()
        loop = asyncio.get_running_loop()
        began = loop.time()
        answer = await feed.poll(lambda after: [], 1, 0.2)
        return answer, loop.time() - began

    (found, last), took = asyncio.run(asyncio.wait_for(scenario(), 10))
    assert (found, last) == ([], 1) and 0.15 < took < 5
