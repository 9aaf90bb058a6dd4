"""ContainerPilot v3 files read into pilot's model: keys, types, defaults, refusals, dialects."""

from __future__ import annotations

import math
import socket
from pathlib import Path

import pytest

from pilot.config.errors import ConfigError
from pilot.config.load import load_config, parse_config
from pilot.config.model import CONTAINERPILOT, Config, Ending

REPO = Path(__file__).resolve().parents[2]
MINIMAL = """{
  consul: "localhost:8500",
  jobs: [
    { name: "setup", exec: "/bin/setup  --now" },
    { name: "app", exec: ["/bin/app", "-v"], port: 8080,
      when: { source: "setup", once: "exitSuccess" },
      health: { exec: "/bin/check a|b", interval: 5, ttl: 15 }, restarts: "3" },
    { name: "pre-stop", exec: "echo bye", when: { source: "app", once: "stopping" } },
    { name: "task", exec: "date", when: { interval: "500ms" }, timeout: 2 },
  ],
  watches: [{ name: "db", interval: 3, tag: "primary", dc: "dc2" }],
}"""


def load(text: str, environ: dict[str, str] | None = None) -> Config:
    return parse_config(text, environ or {}, "containerpilot.json5")


def errors_of(text: str, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(text, environ)
    return [str(error) for error in caught.value.errors]


def test_a_minimal_v3_file_runs_with_containerpilot_semantics() -> None:
    """Exec strings split on single spaces, numbers are seconds, and no job is main: it runs
    until every job is over (with telemetry, until stopped: its telemetry job never ends)."""
    config = load(MINIMAL)
    assert config.dialect == CONTAINERPILOT
    setup, app, pre_stop, task = config.jobs
    assert setup.argv == ("/bin/setup", "", "--now")
    assert not any(job.main for job in config.jobs) and config.ending is Ending.EVERY_JOB
    telemetry = MINIMAL.replace("watches:", 'telemetry: { port: 9090 }, watches:')
    with_telemetry = load(telemetry)
    assert with_telemetry.ending is Ending.NEVER and with_telemetry.telemetry is not None
    assert with_telemetry.telemetry.service_id == f"containerpilot-{socket.gethostname()}"
    assert app.health is not None and app.health.exec == ("/bin/check", "a|b")
    assert (app.health.interval, app.health.ttl, app.health.check_timeout) == (5, 15, 5)
    assert app.service_id == f"app-{socket.gethostname()}"
    assert app.interfaces == ("eth0:inet", "inet")
    assert app.max_restarts == 3 and app.stop.timeout == 5 and config.stop_timeout == 5
    assert pre_stop.when.source == "app" and pre_stop.when.once == ("stopping",)
    assert task.when.interval == 0.5 and task.timeout == 2 and task.max_restarts == math.inf
    assert config.control.path == "/var/run/containerpilot.socket"
    (watch,) = config.watches
    assert (watch.service, watch.tags, watch.datacenter, watch.passing) == (
        "db",
        ("primary",),
        "dc2",
        True,
    )


def test_a_pilot_json5_with_consul_stays_native() -> None:
    """A native file holding consul and jobs is not mistaken for ContainerPilot's."""
    text = """{ consul: "localhost:8500", jobs: [{ name: "web", exec: "web", port: 80,
               health: { http: "http://127.0.0.1/", interval: "5s" } }] }"""
    assert parse_config(text, {}, "pilot.json5").dialect == "pilot.json5"


@pytest.mark.parametrize("path", sorted((REPO / "examples").glob("*/pilot.json5")))
def test_the_examples_stay_native(path: Path) -> None:
    """No shipped pilot.json5 reads as ContainerPilot's."""
    environ = {"CONSUL": "127.0.0.1:8500", "HOSTNAME": "h"}
    try:
        assert load_config(str(path), environ).dialect == "pilot.json5"
    except ConfigError as error:
        assert "ContainerPilot" not in str(error)


def test_the_template_is_rendered_with_the_environment_first() -> None:
    """{{ }} runs before JSON5 is parsed, and can generate whole entries."""
    text = """{ consul: "{{ .CONSUL | default "consul" }}:8500",
      jobs: [{{ range $i := loop (env "N") }}{ name: "w{{ $i }}", exec: "true" },{{ end }}] }"""
    config = load(text, {"N": "3"})
    assert [job.name for job in config.jobs] == ["w0", "w1", "w2"]
    assert config.consul.address == "consul:8500"


@pytest.mark.parametrize(
    ("fragment", "expected"),
    [
        ('jobs: [{ name: "a", exec: "x", colour: 1 }]', "jobs[0].colour: unknown key"),
        ("jobs: [], extra: 1", "extra: unknown key"),
        (
            'jobs: [{ name: "a", exec: "x", port: 80 }]',
            "jobs[0].health: must be set if 'port' is set",
        ),
        (
            'jobs: [{ name: "a", exec: "x", port: 80, health: { exec: "y", ttl: 5 } }]',
            "jobs[0].health.interval: must be > 0",
        ),
        (
            'jobs: [{ name: "a", exec: "x", port: 80, health: { exec: "y", interval: 1, '
            'ttl: "25s" } }]',
            "jobs[0].health.ttl: must be a whole number of seconds",
        ),
        ('jobs: [{ name: "a", exec: "" }]', "jobs[0].exec: received zero-length argument"),
        ('jobs: [{ name: "a", exec: 5 }]', "jobs[0].exec: must be a string or a list"),
        (
            'jobs: [{ name: "a", exec: "x", restarts: "unlimited", when: { source: "b", '
            'each: "changed" } }, { name: "b", exec: "y" }]',
            "may not be used when 'job.when.each' is set",
        ),
        ('jobs: [{ name: "a", exec: "x", restarts: "often" }]', "accepts positive integers"),
        (
            'jobs: [{ name: "a", exec: "x", when: { interval: "1s", once: "startup" } }]',
            "can have only one of 'interval', 'once', or 'each'",
        ),
        (
            'jobs: [{ name: "a", exec: "x", when: { source: "b", once: "exploded" } }]',
            "jobs[0].when.once: unknown event 'exploded'",
        ),
        (
            'jobs: [{ name: "Bad_Name", exec: "x", port: 80, health: { exec: "y", '
            "interval: 1, ttl: 2 } }]",
            "jobs[0].name: 'Bad_Name' is not a service name",
        ),
        (
            'jobs: [{ name: "a", exec: "x", port: 80, health: { exec: "y", interval: 1, '
            "ttl: 2 }, consul: { enableTagOverride: true } }]",
            "deregisterCriticalServiceAfter: is required in a consul block",
        ),
        ('jobs: [], watches: [{ name: "db" }]', "watches[0].interval: must be > 0"),
        (
            'jobs: [], telemetry: { metrics: [{ name: "m", type: "meter" }] }',
            "telemetry.metrics[0].type: invalid metric type: meter",
        ),
        ('jobs: [], logging: { level: "LOUD" }', "logging.level: unknown level 'loud'"),
    ],
)
def test_what_containerpilot_refuses_is_refused_and_placed(fragment: str, expected: str) -> None:
    """Unknown keys, wrong types and ContainerPilot's own checks are placed errors."""
    messages = errors_of('{ consul: "c:8500", ' + fragment + " }")
    assert any(expected in message for message in messages), messages


def test_an_empty_name_is_refused_even_without_port() -> None:
    """ContainerPilot 3.8 checks the name before it would take it from the exec."""
    (message,) = errors_of('{ consul: "c:8500", jobs: [{ exec: "/usr/bin/y" }] }')
    assert message.startswith("jobs[0].name: must not be blank")


def test_consul_is_required() -> None:
    """Without consul ContainerPilot has no discovery backend: refused."""
    assert any("consul: is required" in m for m in errors_of('{ jobs: [{ exec: "x" }] }'))


def test_a_template_error_names_the_line_in_the_original_file() -> None:
    """A Go template mistake is placed at its line and column."""
    text = '{\n  consul: "c:8500",\n  jobs: [{ name: "{{ .A | nope }}" }],\n}'
    assert errors_of(text) == ['containerpilot.json5:3:27: function "nope" not defined']


def test_a_syntax_error_after_rendering_is_placed() -> None:
    """`port: {{ .PORT }}` with PORT unset renders `port: ,`, a placed syntax error."""
    text = '{\n  consul: "c:8500",\n  jobs: [{ name: "a", exec: "x", port: {{ .PORT }}, }],\n}'
    (message,) = errors_of(text)
    assert message.startswith("containerpilot.json5:3:") and "syntax error" in message


def test_a_v2_file_points_to_pilot_convert() -> None:
    """services/backends/preStart are v2's: refused with the way out."""
    text = '{ consul: "c:8500", preStart: "x", services: [{ name: "a", port: 1 }] }'
    (message,) = errors_of(text)
    assert "ContainerPilot v2" in message and "pilot convert" in message


def test_free_form_names_and_jobs_without_exec() -> None:
    """A non-advertised name is free-form (renamed for pilot, events follow; duplicates are
    allowed); a job without exec only advertises."""
    text = """{ consul: "c:8500", jobs: [
      { name: "job 1", exec: "x" },
      { name: "/usr/bin/y", exec: "/usr/bin/y" },
      { name: "after", exec: "z", when: { source: "job 1", once: "exitSuccess" } },
      { name: "public", port: 80, health: { exec: "true", interval: 1, ttl: 3 } },
      { name: "job 1", exec: "x2" },
    ] }"""
    config = load(text)
    assert [job.name for job in config.jobs] == ["job_1", "y", "after", "public", "job_1_"]
    assert config.jobs[2].when.source == "job_1"
    assert config.jobs[3].argv[0] == "sleep" and not config.jobs[3].main


def test_signal_sources_run_every_time() -> None:
    """when: {source: "SIGHUP"} needs no once/each and runs on every signal."""
    config = load(
        '{ consul: "c:8500", jobs: [{ name: "a", exec: "x", when: { source: "SIGHUP" } }] }'
    )
    assert config.jobs[0].when.each == ("SIGHUP",)


def test_telemetry_metrics_are_named_as_prometheus_shows_them() -> None:
    """namespace_subsystem_name, empty parts left out; the endpoint listens like a job."""
    text = """{ consul: "c:8500", jobs: [{ name: "a", exec: "x" }], telemetry: { port: 9191,
      metrics: [{ namespace: "ns", name: "hits", type: "counter", help: "h" },
                { name: "load", type: "gauge" }] } }"""
    telemetry = load(text).telemetry
    assert telemetry is not None and telemetry.port == 9191
    assert [m.name for m in telemetry.metrics] == ["ns_hits", "load"]
    assert telemetry.interfaces == ("eth0:inet", "inet")


@pytest.mark.parametrize("key", ["build", "watch", "monitor", "callback", "remote", "logs_dir"])
def test_a_key_only_pilot_json5_has_keeps_a_file_native(key: str) -> None:
    """The keys that tell a pilot.json5 from a ContainerPilot file before any parsing come from
    pilot's schema, so a newer native key (these were missing from a hand-kept list) is
    recognised too."""
    from pilot.config.containerpilot.detect import _may_be_containerpilot, read_foreign

    text = f'{{ consul: "c:8500", jobs: [{{ name: "a", exec: "x", {key}: 1 }}] }}'
    assert not _may_be_containerpilot(text) and read_foreign(text, {}, "app.json5") is None
