"""Prometheus metrics: pilot's own, read from its state at scrape time, and those jobs push."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from pilot.config.ops_model import Telemetry

if TYPE_CHECKING:
    from pilot.app.supervisor import Supervisor
    from pilot.events import Event

_PUSHED = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?$")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')


class UnknownMetric(Exception):
    """A pushed name that the config does not declare (or with the wrong labels)."""


class Metrics:
    """One prometheus_client registry for this pilot."""

    def __init__(self, app: Supervisor, config: Telemetry) -> None:
        from prometheus_client import (
            CollectorRegistry,
            Counter,
            Gauge,
            Histogram,
            ProcessCollector,
            Summary,
        )

        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.registry.register(_StateCollector(app))
        self.events = Counter(
            "pilot_events",
            "events published on pilot's bus",
            ["code", "source"],
            registry=self.registry,
        )
        self.check_seconds = Histogram(
            "pilot_health_check_seconds", "health check duration", ["job"], registry=self.registry
        )
        kinds: dict[str, Callable[..., Any]] = {
            "counter": Counter,
            "gauge": Gauge,
            "histogram": Histogram,
            "summary": Summary,
        }
        self.custom = {
            spec.name: (
                spec.type,
                kinds[spec.type](spec.name, spec.help, list(spec.labels), registry=self.registry),
            )
            for spec in config.metrics
        }

    def on_event(self, event: Event, seq: int) -> None:
        self.events.labels(code=event.code, source=event.source).inc()

    def push(self, key: str, value: float) -> None:
        """ContainerPilot's meaning: a counter adds, a gauge sets, a histogram/summary observes.

        Raises:
            CommandError(422): the metric is not declared, or its labels do not match.
        """
        from pilot.app.commands import CommandError

        match = _PUSHED.match(key.strip())
        if match is None or match.group(1) not in self.custom:
            raise CommandError(422, f"unknown metric {key!r}: declare it in telemetry.metrics")
        kind, metric = self.custom[match.group(1)]
        labels = dict(_LABEL.findall(match.group(2) or ""))
        try:
            target = metric.labels(**labels) if labels or metric._labelnames else metric
        except ValueError as error:
            raise CommandError(422, f"{key}: {error}") from None
        if kind == "counter":
            if value < 0:
                raise CommandError(400, f"{key}: a counter only goes up")
            target.inc(value)
        elif kind == "gauge":
            target.set(value)
        else:
            target.observe(value)

    def exposition(self) -> bytes:
        from prometheus_client import generate_latest

        return bytes(generate_latest(self.registry))


class _StateCollector:
    """Metrics read from pilot's state when Prometheus scrapes: nothing to keep in step."""

    def __init__(self, app: Supervisor) -> None:
        self._app = app

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        app = self._app
        restarts = CounterMetricFamily("pilot_job_restarts", "restarts of a job", labels=["job"])
        up = GaugeMetricFamily("pilot_job_up", "1 while the job's process runs", labels=["job"])
        code = GaugeMetricFamily("pilot_job_exit_code", "the job's last exit code", labels=["job"])
        health = GaugeMetricFamily("pilot_health_status", "1 healthy, 0 unhealthy", labels=["job"])
        for name, job in app.jobs.items():
            stats = job.statistics()
            restarts.add_metric([name], stats.restarts)
            up.add_metric([name], 1 if stats.state in ("running", "stopping") else 0)
            if stats.last_exit is not None:
                code.add_metric([name], stats.last_exit)
            monitor = app.discovery.monitors.get(name) if app.discovery else None
            if monitor is not None and monitor.healthy is not None:
                health.add_metric([name], 1 if monitor.healthy else 0)
        yield from (restarts, up, code, health)
        instances = GaugeMetricFamily(
            "pilot_watch_instances", "instances a watch sees", labels=["watch"]
        )
        updates = CounterMetricFamily(
            "pilot_watch_updates", "answers a watch received", labels=["watch"]
        )
        errors = CounterMetricFamily("pilot_consul_errors", "failed Consul calls", labels=["op"])
        if app.discovery is not None:
            for name, state in app.discovery.watches.items():
                instances.add_metric([name], len(state.instances))
                updates.add_metric([name], state.updates)
            for op, count in app.discovery.errors.items():
                errors.add_metric([op], count)
        yield from (instances, updates, errors)
        renders = CounterMetricFamily(
            "pilot_template_renders", "template renders", labels=["template", "result"]
        )
        if app.templates is not None:
            for name, runner in app.templates.runners.items():
                renders.add_metric([name, "ok"], runner.stats.renders)
                renders.add_metric([name, "failed"], runner.stats.failures)
        yield renders
