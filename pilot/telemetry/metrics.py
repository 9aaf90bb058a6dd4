"""Prometheus metrics: pilot's own, read from its state at scrape time, and those jobs push."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from pilot.config.ops_model import Telemetry
from pilot.events import Event
from pilot.interface.commands import CommandError
from pilot.interface.status import Status

_PUSHED = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?$")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')


class Metrics:
    """One prometheus_client registry for this pilot."""

    def __init__(self, snapshot: Callable[[], Status], config: Telemetry) -> None:
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
        self.registry.register(_StateCollector(snapshot))
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
        """Count an event of the bus."""
        self.events.labels(code=event.code, source=event.source).inc()

    def push(self, key: str, value: float) -> None:
        """ContainerPilot's meaning: a counter adds, a gauge sets, a histogram/summary observes.

        Raises:
            CommandError(422): the metric is not declared, or its labels do not match.
        """
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
        """The registry in Prometheus' text format."""
        from prometheus_client import generate_latest

        return bytes(generate_latest(self.registry))


class _StateCollector:
    """Metrics read from pilot's status snapshot when Prometheus scrapes: nothing to keep in
    step."""

    def __init__(self, snapshot: Callable[[], Status]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        status = self._snapshot()
        restarts = CounterMetricFamily("pilot_job_restarts", "restarts of a job", labels=["job"])
        up = GaugeMetricFamily("pilot_job_up", "1 while the job's process runs", labels=["job"])
        code = GaugeMetricFamily("pilot_job_exit_code", "the job's last exit code", labels=["job"])
        health = GaugeMetricFamily("pilot_health_status", "1 healthy, 0 unhealthy", labels=["job"])
        for job in status.jobs:
            stats = job.stats
            restarts.add_metric([stats.name], stats.restarts)
            up.add_metric([stats.name], 1 if stats.state.alive else 0)
            if stats.last_exit is not None:
                code.add_metric([stats.name], stats.last_exit)
            if job.health is not None:
                health.add_metric([stats.name], 1 if job.health else 0)
        yield from (restarts, up, code, health)
        instances = GaugeMetricFamily(
            "pilot_watch_instances", "instances a watch sees", labels=["watch"]
        )
        updates = CounterMetricFamily(
            "pilot_watch_updates", "answers a watch received", labels=["watch"]
        )
        for watch in status.watches:
            instances.add_metric([watch.name], watch.instances)
            updates.add_metric([watch.name], watch.updates)
        errors = CounterMetricFamily("pilot_consul_errors", "failed Consul calls", labels=["op"])
        for op, count in status.consul_errors:
            errors.add_metric([op], count)
        yield from (instances, updates, errors)
        renders = CounterMetricFamily(
            "pilot_template_renders", "template renders", labels=["template", "result"]
        )
        for template in status.templates:
            renders.add_metric([template.name, "ok"], template.renders)
            renders.add_metric([template.name, "failed"], template.failures)
        yield renders
