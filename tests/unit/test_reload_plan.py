"""The reload plan, computed from two configs alone: what keeps running, stops, starts, which
watches and templates change, and what only a restart can change."""

from __future__ import annotations

import json

from pilot.app.plan import Diff, plan_reload
from pilot.config.load import parse_config
from pilot.config.model import Config


def config(jobs: list[dict[str, object]], **extra: object) -> Config:
    return parse_config(json.dumps({"jobs": jobs, **extra}), {}, "pilot.json5")


APP = {"name": "app", "exec": ["app"], "main": True}
WORKER = {"name": "worker", "exec": ["worker"]}
CRON = {"name": "cron", "exec": ["cron"], "when": {"interval": "10s"}}


def test_same_config_changes_nothing() -> None:
    old = config([APP, WORKER])
    plan = plan_reload(old, config([APP, WORKER]))
    assert plan.unchanged == ("app", "worker")
    assert plan.stopped == plan.started == ()
    assert plan.refusal is None


def test_changed_job_is_stopped_and_started_under_its_name() -> None:
    plan = plan_reload(config([APP, WORKER]), config([APP, {**WORKER, "exec": ["worker", "-v"]}]))
    assert plan.unchanged == ("app",)
    assert plan.stopped == ("worker",)
    assert plan.started == ("worker",)


def test_removed_job_stops_and_new_job_starts_in_file_order() -> None:
    plan = plan_reload(config([APP, WORKER]), config([CRON, APP]))
    assert plan.stopped == ("worker",)
    assert plan.started == ("cron",)
    assert plan.unchanged == ("app",)


def test_watches_and_templates_diffed_by_name() -> None:
    old = config(
        [APP],
        watches=[{"name": "db", "service": "db"}, {"name": "cache", "service": "cache"}],
    )
    new = config(
        [APP],
        watches=[
            {"name": "db", "service": "db", "tags": ["v2"]},
            {"name": "api", "service": "api"},
        ],
    )
    plan = plan_reload(old, new)
    assert plan.watches == Diff(added=("api",), removed=("cache",), changed=("db",))
    assert plan.watches.replaced == {"cache", "db"}
    assert plan.templates == Diff()


def test_consul_control_and_telemetry_need_a_restart() -> None:
    old = config([APP])
    new = config([APP], consul="consul.example:8500", telemetry={"port": 9090})
    plan = plan_reload(old, new)
    assert plan.fixed == ("consul", "telemetry")
    assert plan.refusal == "consul, telemetry cannot change while pilot runs; restart it"


def test_logging_change_alone_restarts_no_job() -> None:
    plan = plan_reload(config([APP]), config([APP], logging={"level": "debug"}))
    assert plan.unchanged == ("app",)
    assert plan.refusal is None
