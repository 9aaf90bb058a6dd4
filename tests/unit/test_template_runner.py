"""TemplateRunner on an injected clock: the first render is immediate, a template renders only
once all its queries have answered, and only its own dependencies restart its quiescence timer.

The runner reads time and schedules timers through its event loop; the loop here reads a fake
clock that moves only when a test advances it, so no test sleeps."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from pilot.config.template_model import Template, TemplateWait
from pilot.consul.watch import Instance, Query
from pilot.health.checks import CheckResult
from pilot.log import Log
from pilot.render.language import make_environment
from pilot.render.renderer import TemplateRunner

ADDRESSES = """{% for i in service(NAME) %}{{ i.address }}
{% endfor %}"""


def service(name: str) -> Query:
    """The query `service(name)` makes in a template."""
    return Query("service", name, (), None, True, 60.0)


def instance(name: str, address: str) -> Instance:
    return Instance(f"{name}-{address}", name, address, 80, (), (), "node", "passing")


class FakeHub:
    """The WatchHub's interface: latest answers, and listeners called with each new answer of
    their own query only."""

    def __init__(self) -> None:
        self.latest: dict[Query, Any] = {}
        self.listeners: dict[Query, list[Callable[[Any], None]]] = {}

    def subscribe(self, query: Query, listener: Callable[[Any], None], replay: bool = True) -> None:
        self.listeners.setdefault(query, []).append(listener)
        if replay and query in self.latest:
            listener(self.latest[query])

    def unsubscribe(self, query: Query, listener: Callable[[Any], None]) -> None:
        if listener in self.listeners.get(query, []):
            self.listeners[query].remove(listener)

    def answer(self, query: Query, data: Any) -> None:
        self.latest[query] = data
        for listener in list(self.listeners.get(query, [])):
            listener(data)


class NoActions:
    def signal_job(self, name: str, signum: int) -> bool:
        return False

    async def restart_job(self, name: str) -> None:
        raise AssertionError("no restart expected")

    async def run_command(self, argv: tuple[str, ...], timeout: float) -> CheckResult:
        raise AssertionError("no command expected")


class Harness:
    """Runners on one fake hub, in a loop whose clock is `now`."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.now = 1000.0
        self.hub = FakeHub()
        self.events: list[tuple[str, str]] = []
        self.runners: list[TemplateRunner] = []

    def runner(
        self, name: str, contents: str, minimum: float = 0.0, maximum: float = 0.0
    ) -> TemplateRunner:
        config = Template(
            dest=str(self.tmp_path / name),
            name=name,
            contents=contents,
            wait=TemplateWait(min=minimum, max=maximum),
        )
        runner = TemplateRunner(
            config,
            make_environment().from_string(contents),
            self.hub,  # type: ignore[arg-type]
            NoActions(),
            lambda code, source: self.events.append((code, source)),
            Log("debug", stderr=io.StringIO()),
            {},
            str(self.tmp_path),
            offload=inline,
        )
        self.runners.append(runner)
        return runner

    def text(self, name: str) -> str | None:
        path = self.tmp_path / name
        return path.read_text() if path.exists() else None

    async def settle(self) -> None:
        """Let every callback and task that is due run (no clock movement)."""
        for _ in range(20):
            await asyncio.sleep(0)

    async def advance(self, seconds: float) -> None:
        """Move the clock on: the timers now due fire."""
        self.now += seconds
        await self.settle()


def inline(work: Callable[[], str], name: str) -> asyncio.Future[str]:
    """Render on the loop, at once: these tests are about when renders happen, on a fake
    clock, not about where they run."""
    future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    try:
        future.set_result(work())
    except Exception as error:
        future.set_exception(error)
    return future


def run(tmp_path: Path, body: Callable[[Harness], Awaitable[None]]) -> None:
    """Run `body` in a fresh loop whose time() is the harness's clock."""
    harness = Harness(tmp_path)
    loop = asyncio.new_event_loop()
    loop.time = lambda: harness.now  # type: ignore[method-assign]
    try:
        loop.run_until_complete(body(harness))
    finally:
        for runner in harness.runners:
            runner.close()
        loop.close()


def test_first_render_is_not_delayed_by_wait_min(tmp_path: Path) -> None:
    """With wait.min of an hour, the first render happens as soon as the data is there, with no
    time passing, whether the data is there at start or arrives later; the next change waits."""

    async def body(h: Harness) -> None:
        h.hub.answer(service("ready"), (instance("ready", "10.0.0.1"),))
        early = h.runner("early", ADDRESSES.replace("NAME", "'ready'"), 3600, 3600)
        late = h.runner("late", ADDRESSES.replace("NAME", "'later'"), 3600, 3600)
        early.start()
        late.start()
        await h.settle()
        assert h.text("early") == "10.0.0.1\n"
        assert h.text("late") is None, "rendered before its query answered"
        await h.advance(5)
        h.hub.answer(service("later"), (instance("later", "10.0.0.2"),))
        await h.settle()
        assert h.text("late") == "10.0.0.2\n"
        assert h.events == [("rendered", "template.early"), ("rendered", "template.late")]
        # Once rendered, a change does wait for min.
        h.hub.answer(service("later"), (instance("later", "10.0.0.3"),))
        await h.settle()
        assert h.text("late") == "10.0.0.2\n" and late.quiescence.pending
        await h.advance(3600)
        assert h.text("late") == "10.0.0.3\n"

    run(tmp_path, body)


@pytest.mark.parametrize(
    "contents",
    [
        "{{ service('web')[0].address }}",
        "{{ service('web')[0].address }} {{ key('cfg/port') }}",
        "{% for i in service('api') %}{{ i.address }}{% endfor %}{{ service('web')[0].address }}",
    ],
    ids=["index-empty", "index-empty-and-key", "answered-then-unanswered"],
)
def test_unanswered_queries_neither_render_nor_fail(tmp_path: Path, contents: str) -> None:
    """A template whose queries have not all answered writes nothing and emits no
    renderFailed, even when its code fails on the empty stand-in data; it renders once they
    have answered."""

    async def body(h: Harness) -> None:
        h.hub.answer(service("api"), ())  # an empty list is an answer
        runner = h.runner("t", contents)
        runner.start()
        await h.settle()
        await h.advance(30)
        assert h.events == [] and h.text("t") is None
        assert runner.stats.failures == 0 and runner.stats.last_error is None
        h.hub.answer(service("web"), (instance("web", "10.1.1.1"),))
        await h.settle()
        h.hub.answer(Query("key", "cfg/port", (), None, False, 60.0), (("cfg/port", b"81"),))
        await h.settle()
        assert h.events == [("rendered", "template.t")]
        assert (h.text("t") or "").startswith("10.1.1.1")

    run(tmp_path, body)


def test_answered_empty_data_that_breaks_the_template_fails(tmp_path: Path) -> None:
    """The counterpart: once the query has answered (empty), the same code is a renderFailed."""

    async def body(h: Harness) -> None:
        h.hub.answer(service("web"), ())
        runner = h.runner("t", "{{ service('web')[0].address }}")
        runner.start()
        await h.settle()
        assert h.events == [("renderFailed", "template.t")] and h.text("t") is None
        assert runner.stats.failures == 1

    run(tmp_path, body)


def test_only_own_dependencies_restart_the_quiescence_timer(tmp_path: Path) -> None:
    """Template a (min 1 s, max 10 s) renders 1 s after its own change although b's data keeps
    changing every 0.25 s; a change of its own 0.5 s later does push its render back."""

    async def body(h: Harness) -> None:
        h.hub.answer(service("a"), (instance("a", "10.0.0.1"),))
        h.hub.answer(service("b"), (instance("b", "10.0.1.1"),))
        a = h.runner("a", ADDRESSES.replace("NAME", "'a'"), 1, 10)
        b = h.runner("b", ADDRESSES.replace("NAME", "'b'"), 1, 10)
        a.start()
        b.start()
        await h.settle()
        assert h.text("a") == "10.0.0.1\n" and h.text("b") == "10.0.1.1\n"

        h.hub.answer(service("a"), (instance("a", "10.0.0.2"),))
        for step in range(1, 9):  # b changes at 0.25 s, 0.5 s, ... 2 s
            await h.advance(0.25)
            h.hub.answer(service("b"), (instance("b", f"10.0.1.{step + 1}"),))
            await h.settle()
            if step == 3:  # 0.75 s: not yet
                assert h.text("a") == "10.0.0.1\n"
            if step == 4:  # 1 s: a's own quiet time is over, b's stream did not matter
                assert h.text("a") == "10.0.0.2\n"
        assert h.text("b") == "10.0.1.1\n", "b's own stream keeps postponing b (max is 10 s)"

        h.hub.answer(service("a"), (instance("a", "10.0.0.3"),))
        await h.advance(0.5)
        h.hub.answer(service("a"), (instance("a", "10.0.0.4"),))
        await h.advance(0.75)  # 1.25 s after the first of the two, 0.75 s after the second
        assert h.text("a") == "10.0.0.2\n", "a's own change must restart a's timer"
        await h.advance(0.25)
        assert h.text("a") == "10.0.0.4\n"

    run(tmp_path, body)
