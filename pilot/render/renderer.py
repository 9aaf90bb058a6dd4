"""One template: render when its data changes (after quiescence), write only changed bytes,
check the result, put the old file back if the check fails, then act on the change."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from pilot.config.template_model import Template
from pilot.consul.watch import Query, WatchHub
from pilot.events import Code, template_source
from pilot.health.checks import CheckResult
from pilot.log import Log
from pilot.process.threads import in_thread
from pilot.render.language import MISSING, Lookups, TemplateLookupError
from pilot.render.output import replace_output
from pilot.render.quiescence import Quiescence

WAITING_LOG_EVERY = 10.0
# Runs a render away from the loop: (work, thread name) -> its future result.
Offload = Callable[[Callable[[], str], str], "asyncio.Future[str]"]


class Actions(Protocol):
    """What a render may do to the rest of pilot."""

    def signal_job(self, name: str, signum: int) -> bool: ...

    async def restart_job(self, name: str) -> None: ...

    async def run_command(self, argv: tuple[str, ...], timeout: float) -> CheckResult: ...


@dataclass(frozen=True)
class TemplateStatus:
    """A snapshot of one template, for status output and metrics."""

    name: str
    dest: str
    rendered: bool
    renders: int
    failures: int
    last_render: float | None
    last_error: str | None


@dataclass
class RenderStats:
    """A template's history, for status output and metrics."""

    renders: int = 0
    failures: int = 0
    skipped: int = 0
    last_render: float | None = None
    last_error: str | None = None


class TemplateRunner:
    """Keeps one destination file rendered from its template's current data."""

    def __init__(
        self,
        config: Template,
        compiled: Any,
        hub: WatchHub,
        actions: Actions,
        emit: Callable[[str, str], object],
        log: Log,
        environ: Mapping[str, str],
        base_dir: str,
        own_services: frozenset[str] = frozenset(),
        offload: Offload = in_thread,
    ) -> None:
        self.config, self._compiled, self._hub, self._actions = config, compiled, hub, actions
        self._emit, self._log, self._environ, self._base_dir = emit, log, environ, base_dir
        self._own_services, self._offload = own_services, offload
        self.source = template_source(config.name)
        self.stats = RenderStats()
        self._loop = asyncio.get_running_loop()
        self.quiescence = Quiescence(
            config.wait.min,
            config.wait.longest,
            self._loop.time,
            self._loop.call_at,
            self._render_soon,
        )
        self._following: set[Query] = set()
        self._guards = {
            Query("service", name, (), None, True): count for name, count in config.min_instances
        }
        self.rendered_once = False
        self._busy = False
        self._again = False
        self._waiting: set[Query] = set()
        self._waiting_timer: asyncio.TimerHandle | None = None
        self._closed = False
        self._task: asyncio.Task[None] | None = None
        self._runaway: asyncio.Future[str] | None = None

    def status(self) -> TemplateStatus:
        """A frozen snapshot of this template."""
        stats = self.stats
        return TemplateStatus(
            self.config.name,
            self.config.dest,
            self.rendered_once,
            stats.renders,
            stats.failures,
            stats.last_render,
            stats.last_error,
        )

    def start(self) -> None:
        """Render as soon as the template's data is there."""
        self._render_soon()
        self._waiting_timer = self._loop.call_later(WAITING_LOG_EVERY, self._log_waiting)

    def close(self) -> None:
        """Stop following data; a render under way is cancelled."""
        self._closed = True
        self.quiescence.cancel()
        if self._task is not None:
            self._task.cancel()
        if self._waiting_timer is not None:
            self._waiting_timer.cancel()
        for query in self._following:
            self._hub.unsubscribe(query, self._on_data)
        self._following.clear()

    def _on_data(self, data: Any) -> None:
        if self.rendered_once:
            self.quiescence.change()
        else:
            self._render_soon()  # the first render is never delayed

    def _render_soon(self) -> None:
        if self._closed:
            return
        if self._busy:
            self._again = True
            return
        self._busy = True
        self._task = self._loop.create_task(self._render_loop())

    async def _render_loop(self) -> None:
        try:
            while not self._closed:
                self._again = False
                await self.render_once()
                if not self._again:
                    break
        finally:
            self._busy = False

    async def render_once(self) -> None:
        """Evaluate the template with the latest data and, if the bytes changed, apply them."""
        if self._runaway is not None and not self._runaway.done():
            self._failed("the previous render is still running; the previous file is kept")
            return
        snapshot = dict(self._hub.latest)
        lookups = Lookups(
            lambda query: snapshot.get(query, MISSING),
            self._environ,
            self._base_dir,
            own_services=self._own_services,
        )
        # Off the loop, so that a slow template never stalls signals, the control socket or jobs.
        rendering = self._offload(
            lambda: str(self._compiled.render(**lookups.functions())), f"render {self.config.name}"
        )
        try:
            text = await asyncio.wait_for(asyncio.shield(rendering), self.config.render_timeout)
        except TimeoutError:
            self._runaway = rendering  # its thread cannot be stopped: no other render till done
            self._failed(
                f"render took longer than {self.config.render_timeout:g}s; "
                "the previous file is kept"
            )
            return
        except Exception as error:  # any Jinja2 error: the template is at fault, not pilot
            self._follow(lookups.used)
            if lookups.missing:  # it ran on data not there yet: wait, as for a first render
                self._waiting = lookups.missing
                return
            lookup = isinstance(error, TemplateLookupError)
            self._failed(str(error) if lookup else f"{type(error).__name__}: {error}")
            return
        self._follow(lookups.used)
        self._waiting = lookups.missing | {q for q in self._guards if self._latest(q) is MISSING}
        if self._waiting:
            return
        short = [
            (q.target, count) for q, count in self._guards.items() if len(self._latest(q)) < count
        ]
        if short:
            self.stats.skipped += 1
            names = ", ".join(
                f"{name} has {len(self._latest(Query('service', name, (), None, True)))} of {count}"
                for name, count in short
            )
            self._log.warn(
                f"{self.source}: not rendered, too few instances ({names}); keeping the last file"
            )
            return
        await self._apply(text.encode("utf-8"))

    async def _apply(self, data: bytes) -> None:
        outcome = await replace_output(self.config, data, self._actions.run_command)
        if outcome.error is not None:
            self._failed(outcome.error)
            return
        if not outcome.changed:
            if not self.rendered_once:
                self.rendered_once = True
                self._emit(Code.RENDERED, self.source)
            return
        self.rendered_once = True
        self.stats.renders += 1
        self.stats.last_render = time.time()
        self.stats.last_error = None
        self._log.info(f"{self.source} rendered {self.config.dest}", bytes=len(data))
        # Act first: a job that waits for this render to start must not get the SIGHUP meant
        # for one that was already running.
        await self._act()
        self._emit(Code.RENDERED, self.source)

    async def _act(self) -> None:
        for action in self.config.on_change:
            if action.signal is not None and action.job is not None:
                if not self._actions.signal_job(action.job, action.signal):
                    self._log.info(
                        f"{self.source}: {action.job} is not running, "
                        f"{signal.Signals(action.signal).name} skipped"
                    )
            elif action.restart is not None:
                await self._actions.restart_job(action.restart)
            elif action.exec is not None:
                result = await self._actions.run_command(action.exec, action.timeout)
                if not result.passing:
                    self._log.warn(
                        f"{self.source}: {' '.join(action.exec)} failed: {result.output.strip()}"
                    )

    def _failed(self, message: str) -> None:
        self.stats.failures += 1
        self.stats.last_error = message
        self._log.error(f"{self.source}: {message}")
        self._emit(Code.RENDER_FAILED, self.source)

    def _latest(self, query: Query) -> Any:
        return self._hub.latest.get(query, MISSING)

    def _follow(self, used: set[Query]) -> None:
        wanted = used | set(self._guards)
        for query in wanted - self._following:
            self._hub.subscribe(query, self._on_data, replay=False)
        for query in self._following - wanted:
            self._hub.unsubscribe(query, self._on_data)
        self._following = wanted

    def _log_waiting(self) -> None:
        if self._closed or self.rendered_once:
            return
        if self._waiting:
            what = ", ".join(sorted(str(query) for query in self._waiting))
            self._log.info(f"{self.source} is waiting for {what}")
        self._waiting_timer = self._loop.call_later(WAITING_LOG_EVERY, self._log_waiting)


def load_template(config: Template, config_path: str) -> Any:
    """Compile a template's source (read once, as consul-template does)."""
    from pilot.render.language import make_environment
    from pilot.render.sources import source_path

    environment = make_environment()
    if config.contents is not None:
        return environment.from_string(config.contents)
    with open(source_path(config, config_path), encoding="utf-8") as file:
        return environment.from_string(file.read())


def base_dir(config_path: str) -> str:
    return os.path.dirname(config_path) or "."
