"""One supervised job: runs its command, restarts it with backoff, stops it, reports its events.

Only this module changes a job's state. Other parts state what they want through methods
(`trigger`, `restart`, `hold`, `release`, `retire`, `stop`, `kill`, `give_up`); the spawner,
the signaller and the clock are injected, so the state machine runs on a fake clock in tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable, Mapping

from pilot.config.model import JobConfig
from pilot.events import Code
from pilot.log import Log
from pilot.process.backoff import Backoff
from pilot.process.output import PipeReader
from pilot.process.reaper import exit_code
from pilot.process.seams import Clock, ExitWatcher, Process, Signaller, Spawner, Timer
from pilot.process.spawn import SpawnError, SpawnRequest, spawn
from pilot.process.states import Intent, JobState, JobStats, check_transition

Emit = Callable[[str, str], object]
# What is left of a run's process group when its leader exits gets SIGTERM, and SIGKILL this
# much later: time to flush and exit (dumb-init sends SIGTERM only, tini nothing).
LEFTOVER_GRACE = 2.0
# How long a restart waits for the SIGKILLed rest of the previous run's process group to die.
_GROUP_EXIT_GRACE = 1.0
_GROUP_POLL = 0.005


class Job:
    """Supervises one job of the config.

    Args:
        config: the job's configuration.
        reaper: the one owner of waitpid; the job registers each pid it spawns.
        emit: publishes `(code, source)` events.
        environment: builds the environment of the next run.
        log: pilot's log.
        on_settled: called whenever the job stops having a process and nothing will restart it.
        terminal: a tty fd handed to the job's process group (the main job under `docker -it`).
        clock: time and timers (default: the running loop).
        spawner: starts a process (default: `spawn`, pilot's one way to start processes).
        signaller: signals a process group (default: `os.killpg`).
    """

    def __init__(
        self,
        config: JobConfig,
        reaper: ExitWatcher,
        emit: Emit,
        environment: Callable[[JobConfig], Mapping[str, str]],
        log: Log,
        on_settled: Callable[[Job], None],
        terminal: int | None = None,
        *,
        clock: Clock | None = None,
        spawner: Spawner = spawn,
        signaller: Signaller = os.killpg,
    ) -> None:
        self.config = config
        self.name = config.name
        self._reaper, self._emit, self._environment = reaper, emit, environment
        self._log, self._on_settled, self._terminal = log, on_settled, terminal
        self._clock: Clock = clock if clock is not None else asyncio.get_running_loop()
        self._spawner, self._signaller = spawner, signaller
        self._backoff = Backoff(config.backoff.initial, config.backoff.max, config.backoff.reset)
        self.state = JobState.STOPPED
        self.intent = Intent.SUPERVISE
        self._process: Process | None = None
        self._readers: list[PipeReader] = []
        self._started_at: float | None = None
        self._run_started = 0.0
        self._restart_timer: Timer | None = None
        self._run_timer: Timer | None = None
        self._kill_timer: Timer | None = None
        self._stop_sent = False
        self._leftovers_until = 0.0
        self._group_wait_until = 0.0
        self._exited = asyncio.Event()
        self.runs = 0
        self.restarts = 0
        self._restarts_left = config.max_restarts
        self.last_exit: int | None = None
        self.start_seq = 0

    @property
    def pid(self) -> int | None:
        """The pid of the job's live process (None in backoff, or once it exited)."""
        return self._process.pid if self.state.alive and self._process is not None else None

    @property
    def held(self) -> bool:
        """Stopped through the control socket until released: not "over"."""
        return self.intent is Intent.HOLD

    @property
    def stopped_by_pilot(self) -> bool:
        """Whether pilot sent the current (or last) run its stop signal or SIGKILL: its exit
        was asked for (ctl stop or restart, a reload, shutdown), not a failure."""
        return self._stop_sent

    @property
    def accepts_runs(self) -> bool:
        """Whether a trigger or a restart may still start a run."""
        return self.intent.accepts_runs

    def statistics(self) -> JobStats:
        """A frozen snapshot of the job's state."""
        return JobStats(
            self.name,
            self.state,
            self.pid,
            self.runs,
            self.restarts,
            self.last_exit,
            self._started_at,
        )

    # What others may ask of a job.

    def trigger(self, seq: int) -> None:
        """Its `when` fired (event number `seq`): start a run, or queue one after this one."""
        if not self.intent.accepts_runs or self._restart_timer is not None:
            return  # a restart is already on its way: it is the run this trigger asks for
        if self.state.active:
            if self.config.periodic:
                self._log.warn(
                    f"{self.name}: previous run still going, skipping this one", job=self.name
                )
            elif self.intent is Intent.SUPERVISE:
                self.intent = Intent.RUN_AGAIN
            return
        if self.config.periodic:
            if self.runs > self._restarts_left:
                return
        else:
            self._restarts_left = self.config.max_restarts
            self._backoff.reset()
        self.start_seq = seq
        self._start_run()

    async def restart(self, requested: bool = False) -> None:
        """Stop the current run (its stop sequence) and start a new one right after. The one
        rule for a held job: it starts again when someone asks (`requested`: `pilot ctl
        restart`, `rebuild`), and stays held when the restart is automatic (a template action,
        a file watch). A retired job is left alone."""
        if self.held and requested:
            self.release()
            return
        if not self.intent.accepts_runs:
            return
        if self.state.alive:
            self.intent = Intent.RESTART
            await self._terminate()
            return
        self._cancel_restart_timer()
        self._start_run()

    async def hold(self) -> None:
        """Stop the job until `release()`; a held main job does not end pilot."""
        self.intent = Intent.HOLD
        await self._stop_runs()

    def release(self) -> None:
        """Undo `hold()` (and `stop()`): accept runs again, and start one unless one is going."""
        self.intent = Intent.SUPERVISE
        if not self.state.active and self._restart_timer is None:
            self.trigger(self.start_seq)

    def retire(self) -> None:
        """No more runs or restarts; a live process keeps running until stopped."""
        self.intent = Intent.RETIRE
        if self._cancel_restart_timer():
            self._stopped()
        elif self.state is JobState.WAITING:
            self._set_state(JobState.EXITED)

    async def stop(self, signum: int | None = None) -> None:
        """Stop the job for good: no more runs; its stop signal (or `signum`), then SIGKILL
        after its timeout."""
        self.intent = Intent.RETIRE
        await self._stop_runs(signum)

    def kill(self) -> None:
        """SIGKILL the job's process group now, and let nothing restart it."""
        self.intent = Intent.RETIRE
        if self._cancel_restart_timer():
            self._stopped()
        self._stop_sent = True
        self.signal(signal.SIGKILL)

    def give_up(self) -> None:
        """Its `when.timeout` passed before its event: it will not run (unless something else,
        such as `pilot ctl start`, has already started it)."""
        if self.state is not JobState.STOPPED:
            return
        self.intent = Intent.RETIRE
        self._set_state(JobState.FATAL)
        self._emit(Code.EXIT_FAILED, self.name)
        self._settle()

    def signal(self, signum: int) -> bool:
        """Send `signum` to the job's process group; returns whether it was running."""
        if not self.state.alive or self._process is None:
            return False
        with contextlib.suppress(ProcessLookupError, PermissionError):
            self._signaller(self._process.pid, signum)
        return True

    async def wait_settled(self) -> None:
        """Wait until the job has no process and nothing will restart it."""
        while self.state.active or self._restart_timer is not None:
            self._exited.clear()
            await self._exited.wait()

    # The state machine.

    def _start_run(self) -> None:
        self._set_state(JobState.STARTING)
        self._stop_sent = False
        self._exited.clear()
        self.runs += 1
        self._started_at = time.time()
        try:
            process = self._spawner(self._spawn_request())
        except SpawnError as error:
            self._log.error(f"{self.name}: {error}", job=self.name)
            self._finish_run(error.exit_code, 0.0, spawned=False)
            return
        self._process = process
        self._reaper.watch(process.pid, self._on_exit)
        self._run_started = self._clock.time()
        if process.stdout is not None and process.stderr is not None:
            self._readers = [
                self._reader(process.stdout.fileno(), "stdout"),
                self._reader(process.stderr.fileno(), "stderr"),
            ]
        timeout = self.config.run_timeout
        if timeout is not None:
            self._run_timer = self._clock.call_later(timeout, self._on_run_timeout)
        self._set_state(JobState.RUNNING)
        self._log.info(f"{self.name} started", pid=process.pid, job=self.name)
        self._emit(Code.STARTED, self.name)

    def _spawn_request(self) -> SpawnRequest:
        cfg = self.config
        return SpawnRequest(
            argv=cfg.argv,
            env=self._environment(cfg),
            cwd=cfg.cwd,
            user=cfg.user,
            group=cfg.group,
            capture=not cfg.logging.raw and self._terminal is None,
            inherit_stdin=self._terminal is not None,
            terminal=self._terminal,
        )

    def _reader(self, fd: int, stream: str) -> PipeReader:
        # Popen's file objects are left alone; the reader owns a duplicate of the fd.
        return PipeReader(
            asyncio.get_running_loop(),
            os.dup(fd),
            lambda line: self._log.job_line(self.name, stream, line),
        )

    def _on_exit(self, status: int) -> None:
        process = self._process
        assert process is not None
        process.returncode = os.waitstatus_to_exitcode(status)
        for reader in self._readers:
            reader.drain()
        self._readers = []
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
        self._end_leftovers(process.pid)
        for timer in (self._run_timer, self._kill_timer):
            if timer is not None:
                timer.cancel()
        self._run_timer = self._kill_timer = None
        code = exit_code(status)
        self._log.info(f"{self.name} exited", code=code, pid=process.pid, job=self.name)
        self._finish_run(code, self._clock.time() - self._run_started, spawned=True)

    def _end_leftovers(self, pgid: int) -> None:
        """Nothing of the group outlives its leader: SIGTERM, SIGKILL after LEFTOVER_GRACE."""
        try:
            self._signaller(pgid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            return
        self._leftovers_until = self._clock.time() + LEFTOVER_GRACE
        self._clock.call_later(LEFTOVER_GRACE, self._kill_group, pgid)

    def _kill_group(self, pgid: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            self._signaller(pgid, signal.SIGKILL)

    async def wait_leftovers(self) -> None:
        """Wait until the last run's process group is gone: it has its LEFTOVER_GRACE, then
        SIGKILL and a second more (pilot exits after this, and as PID 1 takes them along)."""
        deadline = self._leftovers_until + _GROUP_EXIT_GRACE
        while self._previous_group_alive() and self._clock.time() < deadline:
            await asyncio.sleep(_GROUP_POLL)

    def _finish_run(self, code: int, uptime: float, spawned: bool) -> None:
        self.last_exit = code
        success = code in self.config.success_codes
        self._exited.set()
        self._emit(Code.EXIT_SUCCESS if success else Code.EXIT_FAILED, self.name)
        if self.state is JobState.STOPPING:
            self._set_state(JobState.STOPPED)
            if self.intent is Intent.RESTART:
                self.intent = Intent.SUPERVISE
                self._schedule_restart(0.0)
                return
            self._settle()
            return
        cfg = self.config
        wants_restart = not (success and cfg.restart_on == "failure")
        if (
            not cfg.periodic
            and wants_restart
            and self.intent.accepts_runs
            and self._restarts_left > 0
        ):
            self._restarts_left -= 1
            self.restarts += 1
            delay = self._backoff.delay_after_run(uptime)
            self._set_state(JobState.BACKOFF)
            self._log.info(f"{self.name} restarting in {delay:.2g}s", code=code, job=self.name)
            self._schedule_restart(delay)
            return
        if cfg.periodic and self.intent.accepts_runs and self.runs <= self._restarts_left:
            self._set_state(JobState.WAITING)
        else:
            self._set_state(JobState.EXITED if spawned or success else JobState.FATAL)
        if self.intent is Intent.RUN_AGAIN:
            self.intent = Intent.SUPERVISE
            self.trigger(self.start_seq)
            return
        self._settle()

    def _schedule_restart(self, delay: float) -> None:
        now = self._clock.time()
        self._group_wait_until = max(now + delay, self._leftovers_until) + _GROUP_EXIT_GRACE
        self._restart_timer = self._clock.call_later(delay, self._restart)

    def _restart(self) -> None:
        self._restart_timer = None
        if not self.intent.accepts_runs:
            self._stopped()
            return
        if self._previous_group_alive():
            if self._clock.time() < self._group_wait_until:
                # SIGKILLed members die asynchronously: the next run starts on a clean slate.
                self._restart_timer = self._clock.call_later(_GROUP_POLL, self._restart)
                return
            self._log.warn(
                f"{self.name}: processes of its last run outlived SIGKILL", job=self.name
            )
        self._start_run()

    def _previous_group_alive(self) -> bool:
        if self._process is None:
            return False
        try:
            self._signaller(self._process.pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True

    def _cancel_restart_timer(self) -> bool:
        if self._restart_timer is None:
            return False
        self._restart_timer.cancel()
        self._restart_timer = None
        return True

    def _on_run_timeout(self) -> None:
        """A run past `timeout`: its stop sequence; the run counts as failed, restarts apply."""
        self._run_timer = None
        self._log.warn(f"{self.name} timed out after {self.config.run_timeout:g}s, stopping it")
        self._send_stop_signal()

    async def _stop_runs(self, signum: int | None = None) -> None:
        if self._cancel_restart_timer():
            self._stopped()
        elif self.state.alive:
            await self._terminate(signum)
        elif self.state in (JobState.EXITED, JobState.FATAL, JobState.WAITING):
            self._set_state(JobState.STOPPED)

    async def _terminate(self, signum: int | None = None) -> None:
        """The stop sequence of the live run; returns once its process has exited."""
        if self.state is JobState.RUNNING:
            self._set_state(JobState.STOPPING)
        self._send_stop_signal(signum)
        await self._exited.wait()

    def _send_stop_signal(self, signum: int | None = None) -> None:
        """The stop signal (or `signum`) now, SIGKILL after the stop timeout unless the
        process exits."""
        self._stop_sent = True
        sent = self.config.stop.signal if signum is None else signum
        self.signal(sent)
        if self._kill_timer is None:
            self._kill_timer = self._clock.call_later(
                self.config.stop.timeout, self._stop_overdue, sent
            )

    def _stop_overdue(self, sent: int) -> None:
        self._kill_timer = None
        self._log.warn(
            f"{self.name} still running {self.config.stop.timeout:g}s after "
            f"{signal.Signals(sent).name}, killing it"
        )
        self.signal(signal.SIGKILL)

    def _settle(self) -> None:
        self._exited.set()
        self._on_settled(self)

    def _stopped(self) -> None:
        """A pending restart will not happen: the job ends STOPPED."""
        if self.state is not JobState.STOPPED:  # a restart through ctl is pending from STOPPED
            self._set_state(JobState.STOPPED)
        self._settle()

    def _set_state(self, new: JobState) -> None:
        check_transition(self.state, new)
        self.state = new
