"""Jobs coordinated by events: once/each, when.timeout, periodic tasks, the shutdown sequence."""

from __future__ import annotations

import asyncio
import itertools
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

from pilot.app.triggers import Triggers
from pilot.config.load import parse_config
from pilot.events import EventBus
from pilot.log import Log
from pilot.process.job import Job
from pilot.process.reaper import Reaper
from tests.helpers import Pilot, python_job, read_lines, scaled, wait_for

APPEND = "echo {name} >> order.log"
STAMP = python_job("""
    import sys, time
    start = time.monotonic()
    time.sleep(float(sys.argv[1]))
    open("stamps.log", "a").write(f"{start} {time.monotonic()}\\n")
""")


def sh(name: str, script: str, **extra: object) -> dict[str, object]:
    return {"name": name, "exec": ["sh", "-c", script], **extra}


def test_setup_app_prestop_poststop_run_in_order_as_pid1(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    """setup, app, pre-stop hook and post-stop hook each run once, in that order, on SIGTERM."""
    config = {
        "jobs": [
            sh("setup", APPEND.format(name="setup")),
            sh(
                "app",
                "echo app >> order.log; trap 'echo app-stopped >> order.log; exit 0' TERM; "
                "while true; do sleep 0.05; done",
                main=True,
                when={"source": "setup", "once": "exitSuccess"},
            ),
            sh(
                "prestop", APPEND.format(name="prestop"), when={"source": "app", "once": "stopping"}
            ),
            sh(
                "poststop",
                APPEND.format(name="poststop"),
                when={"source": "app", "once": "stopped"},
            ),
        ]
    }
    p = pilot(config, pid1=True)
    wait_for(lambda: read_lines(tmp_path / "order.log") == ["setup", "app"], 10, message="app up")
    p.in_namespace("kill", "-TERM", "1")
    assert p.wait() == 0
    assert read_lines(tmp_path / "order.log") == [
        "setup",
        "app",
        "prestop",
        "app-stopped",
        "poststop",
    ]


def test_each_fires_every_time_once_only_once(pilot: Callable[..., Pilot], tmp_path: Path) -> None:
    """Three SIGHUPs start an each-job three times and a once-job once."""
    config = {
        "jobs": [
            {"name": "main", "main": True, "exec": ["sleep", "300"]},
            sh("every", APPEND.format(name="every"), when={"source": "SIGHUP", "each": "SIGHUP"}),
            sh("first", APPEND.format(name="first"), when={"source": "SIGHUP", "once": "SIGHUP"}),
        ]
    }
    p = pilot(config)
    p.wait_for_output("main started")
    for count in (1, 2, 3):
        p.signal(signal.SIGHUP)
        wait_for(
            lambda count=count: read_lines(tmp_path / "order.log").count("every") == count,
            5,
            message=f"run {count}",
        )
    assert read_lines(tmp_path / "order.log").count("first") == 1


def test_when_timeout_emits_exit_failed(pilot: Callable[..., Pilot], tmp_path: Path) -> None:
    """A job whose event never comes gives up after when.timeout and emits exitFailed."""
    config = {
        "jobs": [
            {"name": "main", "main": True, "exec": ["sleep", "300"]},
            sh(
                "waiter",
                APPEND.format(name="waiter"),
                when={"source": "SIGUSR1", "once": "SIGUSR1", "timeout": "300ms"},
            ),
            sh(
                "fallback",
                APPEND.format(name="fallback"),
                when={"source": "waiter", "once": "exitFailed"},
            ),
        ]
    }
    p = pilot(config)
    wait_for(lambda: read_lines(tmp_path / "order.log") == ["fallback"], 5, message="fallback")
    assert "gave up waiting for SIGUSR1.SIGUSR1" in p.output


def stamped_runs(tmp_path: Path) -> list[tuple[float, float]]:
    """(start, end) of every run of STAMP so far, in order."""
    runs = []
    for line in read_lines(tmp_path / "stamps.log"):
        start, end = map(float, line.split())
        runs.append((start, end))
    return runs


def logged_runs(p: Pilot, job: str) -> list[tuple[float, float]]:
    """(started, exited) of every finished run of `job`, in seconds of the day of pilot's log."""
    moments: dict[str, list[float]] = {"started": [], "exited": []}
    pattern = re.compile(rf"^(\d\d):(\d\d):(\d\d\.\d{{3}}) .*\| {job} (started|exited)\b")
    for line in p.output.splitlines():
        match = pattern.match(line)
        if match:
            hours, minutes, seconds, what = match.groups()
            moments[what].append(int(hours) * 3600 + int(minutes) * 60 + float(seconds))
    return list(zip(moments["started"], moments["exited"], strict=False))


def test_interval_runs_on_schedule_and_never_overlap(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    """Ten periodic runs start on the schedule (run k at first + k·interval, ±250 ms), even
    though each lasts half the interval, and never overlap."""
    interval, tolerance = 0.4, 0.25
    config = {
        "jobs": [
            {"name": "main", "main": True, "exec": ["sleep", "300"]},
            {
                "name": "tick",
                "exec": ["sleep", "0.2"],
                "timeout": "5s",  # not the interval: a slow start under load must not kill a run
                "when": {"interval": "400ms"},
            },
        ]
    }
    p = pilot(config)
    # When pilot started and reaped each run, from its own log: the time a child takes to
    # start on a loaded machine is not pilot's schedule.
    wait_for(lambda: len(logged_runs(p, "tick")) >= 10, 10, message="ten runs")
    runs = logged_runs(p, "tick")[:10]
    first = runs[0][0]
    # A schedule counted from the end of each run would drift by 0.2 s a run: off by 0.4 s at
    # the third, 1.8 s at the tenth.
    errors = [start - (first + k * interval) for k, (start, _) in enumerate(runs)]
    assert all(abs(error) < tolerance for error in errors), " ".join(f"{e:+.3f}" for e in errors)
    for (_, end), (next_start, _) in itertools.pairwise(runs):
        assert end <= next_start, "runs overlap"


def test_a_late_run_skips_the_next(pilot: Callable[..., Pilot], tmp_path: Path) -> None:
    """A run longer than the interval makes the next one skip (logged), not pile up: every run
    starts on a tick of the schedule, and at most one run per two intervals."""
    # Each run lasts about 1.4 intervals: a scheduler that queued the skipped tick and started
    # it when the previous run ended would start runs 0.4 interval (0.6 s) off the schedule.
    # Starts are pilot's own (its log), not the job's: a loaded machine delays a Python job's
    # first statement by more than the tolerance.
    interval, tolerance = 1.5, 0.35
    config = {
        "jobs": [
            {"name": "main", "main": True, "exec": ["sleep", "300"]},
            {
                "name": "slow",
                "exec": [*STAMP, "2.1"],
                "timeout": "5s",
                "when": {"interval": "1500ms"},
            },
        ]
    }
    p = pilot(config)
    wait_for(lambda: len(logged_runs(p, "slow")) >= 3, 20, message="three runs")
    runs = logged_runs(p, "slow")
    first = runs[0][0]
    ticks = [(start - first) / interval for start, _ in runs]
    shown = " ".join(f"{tick:.3f}" for tick in ticks)
    assert all(abs(tick - round(tick)) * interval < tolerance for tick in ticks), shown
    assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(runs))
    # Runs of 1.4 intervals on the schedule: one run every second tick, no more.
    span = runs[-1][0] - first
    assert len(runs) <= round(span / (2 * interval)) + 1, shown
    assert "skipping this one" in p.output


def test_periodic_restarts_n_means_n_plus_1_runs(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    """A periodic job with restarts: 2 runs three times, and no more."""
    config = {
        "jobs": [
            {"name": "main", "main": True, "exec": ["sleep", "300"]},
            {
                "name": "tick",
                "exec": [*STAMP, "0"],
                "restarts": 2,
                "timeout": "5s",  # not the interval: a slow start under load must not kill a run
                "when": {"interval": "100ms"},
            },
        ]
    }
    p = pilot(config)
    wait_for(lambda: p.output.count("tick exited") == 3, 5, message="three runs")
    third = time.monotonic()
    wait_for(lambda: time.monotonic() - third > 0.5, 2, message="five more intervals")
    tick = {job["name"]: job for job in p.status()["jobs"]}["tick"]
    assert tick["runs"] == 3 and len(read_lines(tmp_path / "stamps.log")) == 3


def test_job_with_a_past_once_event_starts_at_once(tmp_path: Path) -> None:
    """A job armed after its `once` event happened (as after a reload) starts right away."""
    config = parse_config(
        '{jobs: [{name: "late", exec: ["touch", "%s"], '
        'when: {source: "global", once: "startup"}}]}' % (tmp_path / "ran"),
        {},
        str(tmp_path / "pilot.json5"),
    )

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        log = Log("error")
        reaper = Reaper()
        loop.add_signal_handler(signal.SIGCHLD, reaper.reap)
        bus = EventBus(log)
        bus.publish("startup", "global")
        job = Job(
            config.jobs[0],
            reaper,
            bus.publish,
            lambda cfg: {"PATH": "/usr/bin:/bin"},
            log,
            lambda job: None,
        )
        triggers = Triggers(bus, {"late": job}, log)
        triggers.arm(job)
        await asyncio.wait_for(job.wait_settled(), 5)
        loop.remove_signal_handler(signal.SIGCHLD)

    asyncio.run(scenario())
    assert (tmp_path / "ran").exists()


def test_stop_timeout_bounds_a_hanging_hook(pilot: Callable[..., Pilot], tmp_path: Path) -> None:
    """A pre-stop hook that hangs cannot hold shutdown past the global stop_timeout."""
    config = {
        "stop_timeout": "1s",
        "jobs": [
            {"name": "app", "main": True, "exec": ["sleep", "300"]},
            sh(
                "hang", "touch hook-ran; exec sleep 300", when={"source": "app", "once": "stopping"}
            ),
        ],
    }
    p = pilot(config)
    p.wait_for_output("app started")
    sent = time.monotonic()
    p.signal(signal.SIGTERM)
    p.wait(10)
    assert time.monotonic() - sent < 1 + scaled(3)
    assert (tmp_path / "hook-ran").exists()
    assert "longer than stop_timeout" in p.output


def test_reverse_start_order(pilot: Callable[..., Pilot], tmp_path: Path) -> None:
    """Jobs are stopped in reverse start order: the last started first."""
    trap = (
        "trap 'echo {name} >> stops.log; exit 0' TERM; : > {name}.ready; "
        "while true; do sleep 0.05; done"
    )
    config = {
        "jobs": [
            sh("db", trap.format(name="db")),
            sh("app", trap.format(name="app"), main=True, when={"source": "db", "once": "started"}),
            sh("web", trap.format(name="web"), when={"source": "app", "once": "started"}),
        ]
    }
    p = pilot(config)
    # A job is ready once its trap is set: SIGTERM before that would kill it unrecorded.
    wait_for(
        lambda: all((tmp_path / f"{name}.ready").exists() for name in ("db", "app", "web")),
        5,
        message=f"all three jobs ready\n{p.output}",
    )
    p.signal(signal.SIGTERM)
    assert p.wait(10) == 0
    assert read_lines(tmp_path / "stops.log") == ["web", "app", "db"]


def test_reverse_start_order_not_file_order(pilot: Callable[..., Pilot], tmp_path: Path) -> None:
    """The order jobs started in, not the order of the file, decides the stop order: here the
    test starts the second job of the file before the first (by the signals it sends)."""
    trap = (
        "trap '' USR1 USR2; trap 'echo {name} >> stops.log; exit 0' TERM; : > {name}.ready; "
        "while true; do sleep 0.05; done"
    )
    config = {
        "jobs": [
            sh("app", trap.format(name="app"), main=True),
            sh("first", trap.format(name="first"), when={"source": "SIGUSR1", "once": "SIGUSR1"}),
            sh("second", trap.format(name="second"), when={"source": "SIGUSR2", "once": "SIGUSR2"}),
        ]
    }
    p = pilot(config)
    for name, signum in (("app", None), ("second", signal.SIGUSR2), ("first", signal.SIGUSR1)):
        if signum is not None:
            p.signal(signum)
        # ready once its trap is set: SIGTERM before that would kill it unrecorded
        ready = tmp_path / f"{name}.ready"
        wait_for(ready.exists, 5, message=f"{name} ready\n{p.output}")
    p.signal(signal.SIGTERM)
    assert p.wait(10) == 0
    assert read_lines(tmp_path / "stops.log") == ["first", "second", "app"]


# Records when SIGTERM arrives (monotonic, the same clock in every process), then takes a
# second to stop: stopping two of these one after the other would put 1 s between stamps.
SLOW_STOPPER = python_job("""
    import signal, sys, time
    def stop(signum, frame):
        with open(sys.argv[1], "w") as f:
            f.write(f"{time.monotonic()}\\n")
        time.sleep(1)
        sys.exit(0)
    signal.signal(signal.SIGTERM, stop)
    open(sys.argv[1] + ".ready", "w").close()
    while True:
        time.sleep(60)
""")


def test_jobs_started_by_the_same_event_are_stopped_together(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    """Two jobs started by the same event get their stop signal together, not one after the
    other, and before the job whose event started them."""
    after_app = {"source": "app", "once": "started"}
    config = {
        "jobs": [
            {"name": "app", "main": True, "exec": [*SLOW_STOPPER, str(tmp_path / "app")]},
            {"name": "one", "exec": [*SLOW_STOPPER, str(tmp_path / "one")], "when": after_app},
            {"name": "two", "exec": [*SLOW_STOPPER, str(tmp_path / "two")], "when": after_app},
        ]
    }
    p = pilot(config)
    names = ("app", "one", "two")
    wait_for(
        lambda: all((tmp_path / f"{name}.ready").exists() for name in names),
        10,
        message="three jobs ready",
    )
    p.signal(signal.SIGTERM)
    assert p.wait(15) == 0
    app, one, two = (float((tmp_path / name).read_text()) for name in names)
    assert abs(one - two) < scaled(0.5), f"stopped one after the other: {abs(one - two):.2f}s apart"
    assert app - max(one, two) > 0.9, "app was stopped before the jobs it started had stopped"


def test_second_signal_kills_at_once_and_still_runs_post_stop_hooks(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    """A second SIGTERM SIGKILLs a job that ignores the first one without waiting for its stop
    timeout, and pilot still emits `stopped` and runs the post-stop hook before exiting."""
    stubborn = "trap 'echo stubborn >> stops.log' TERM; while true; do sleep 0.05; done"
    config = {
        "jobs": [
            sh("app", stubborn, main=True, stop={"timeout": "30s"}),
            sh("poststop", "touch poststop-ran", when={"source": "app", "once": "stopped"}),
        ],
        "stop_timeout": "30s",
    }
    p = pilot(config)
    p.wait_for_output("app started")
    p.signal(signal.SIGTERM)
    wait_for(lambda: read_lines(tmp_path / "stops.log") == ["stubborn"], 5, message="first TERM")
    sent = time.monotonic()
    p.signal(signal.SIGTERM)
    assert p.wait(10) == 137
    assert time.monotonic() - sent < scaled(3), (
        "the second signal did not cut the stop timeout short"
    )
    assert (tmp_path / "poststop-ran").exists(), "the post-stop hook did not run"
    assert "second signal" in p.output
