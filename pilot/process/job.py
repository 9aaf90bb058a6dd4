"""One supervised job: runs its command, restarts it with backoff, stops it, reports its events."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pilot.config.model import JobConfig
from pilot.log import Log
from pilot.process.backoff import Backoff
from pilot.process.output import PipeReader
from pilot.process.reaper import Reaper, exit_code
from pilot.process.spawn import SpawnError, SpawnRequest, spawn
from pilot.process.states import JobState, check_transition

Emit = Callable[[str, str], object]
# How long a restart waits for the SIGKILLed rest of the previous run's process group to die.
_GROUP_EXIT_GRACE = 1.0


@dataclass(frozen=True)
class JobStats:
    """A snapshot of a job, for status output and metrics."""

    name: str
    state: str
    pid: int | None
    runs: int
    restarts: int
    last_exit: int | None
    started_at: float | None


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
    """

    def __init__(
        self,
        config: JobConfig,
        reaper: Reaper,
        emit: Emit,
        environment: Callable[[JobConfig], Mapping[str, str]],
        log: Log,
        on_settled: Callable[[Job], None],
        terminal: int | None = None,
    ) -> None:
        self.config = config
        self.name = config.name
        self._reaper, self._emit, self._environment = reaper, emit, environment
        self._log, self._on_settled, self._terminal = log, on_settled, terminal
        self._loop = asyncio.get_running_loop()
        self._backoff = Backoff(config.backoff.initial, config.backoff.max, config.backoff.reset)
        self.state = JobState.STOPPED
        self._process: subprocess.Popen[bytes] | None = None
        self._readers: list[PipeReader] = []
        self._started_at: float | None = None
        self._run_started = 0.0
        self._restart_timer: asyncio.TimerHandle | None = None
        self._group_wait_until = 0.0
        self._run_timer: asyncio.TimerHandle | None = None
        self._exited = asyncio.Event()
        self._stop_requested = False
        self._restart_after_stop = False
        self._pending_start = False
        self.accepting = True
        self.held = False  # stopped through the control socket: not "over"
        self.runs = 0
        self.restarts = 0
        self._restarts_left = config.max_restarts
        self.last_exit: int | None = None
        self.start_seq = 0

    @property
    def pid(self) -> int | None:
        """The pid of the job's live process (None in backoff, or once it exited)."""
        alive = self.state in (JobState.RUNNING, JobState.STOPPING)
        return self._process.pid if alive and self._process is not None else None

    def statistics(self) -> JobStats:
        """A frozen snapshot of the job's state."""
        return JobStats(
            self.name,
            self.state.value,
            self.pid,
            self.runs,
            self.restarts,
            self.last_exit,
            self._started_at,
        )

    def trigger(self, seq: int) -> None:
        """Its `when` fired (event number `seq`): start a run, or queue one after this one."""
        if not self.accepting:
            return
        if self.state.active:
            if self.config.periodic:
                self._log.warn(f"{self.name}: previous run still going, skipping this one")
            else:
                self._pending_start = True
            return
        if self.config.periodic:
            if self.runs > self._restarts_left:
                return
        else:
            self._restarts_left = self.config.max_restarts
            self._backoff.reset()
        self.start_seq = seq
        self._start_run()

    def _start_run(self) -> None:
        self._set_state(JobState.STARTING)
        self._stop_requested = False
        self._exited.clear()
        request = self._spawn_request()
        try:
            process = spawn(request)
        except SpawnError as error:
            self._log.error(f"{self.name}: {error}")
            self.runs += 1
            self._started_at = time.time()
            self._finish_run(error.exit_code, 0.0, spawned=False)
            return
        self._process = process
        self._reaper.watch(process.pid, self._on_exit)
        self.runs += 1
        self._started_at = time.time()
        self._run_started = self._loop.time()
        if process.stdout is not None and process.stderr is not None:
            self._readers = [
                self._reader(process.stdout.fileno(), "stdout"),
                self._reader(process.stderr.fileno(), "stderr"),
            ]
        if self._terminal is not None:
            _give_terminal(self._terminal, process.pid)
        timeout = self.config.run_timeout
        if timeout is not None:
            self._run_timer = self._loop.call_later(timeout, self._on_run_timeout)
        self._set_state(JobState.RUNNING)
        self._log.info(f"{self.name} started", pid=process.pid)
        self._emit("started", self.name)

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
        )

    def _reader(self, fd: int, stream: str) -> PipeReader:
        # Popen's file objects are left alone; the reader owns a duplicate of the fd.
        return PipeReader(
            self._loop, os.dup(fd), lambda line: self._log.job_line(self.name, stream, line)
        )

    def _on_exit(self, status: int) -> None:
        process = self._process
        assert process is not None
        process.returncode = os.waitstatus_to_exitcode(status)
        for reader in self._readers:
            reader.drain()
        self._close_popen_pipes(process)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)  # nothing of the group outlives its leader
        if self._run_timer is not None:
            self._run_timer.cancel()
            self._run_timer = None
        code = exit_code(status)
        self._log.info(f"{self.name} exited", code=code, pid=process.pid)
        self._finish_run(code, self._loop.time() - self._run_started, spawned=True)

    def _finish_run(self, code: int, uptime: float, spawned: bool) -> None:
        self.last_exit = code
        success = code in self.config.success_codes
        self._exited.set()
        self._emit("exitSuccess" if success else "exitFailed", self.name)
        if self._stop_requested:
            self._set_state(JobState.STOPPED)
            if self._restart_after_stop and self.accepting:
                self._restart_after_stop = False
                self._schedule_restart(0.0)
                return
            self._settle()
            return
        wants_restart = not (success and self.config.restart_on == "failure")
        if (
            not self.config.periodic
            and wants_restart
            and self.accepting
            and self._restarts_left > 0
        ):
            self._restarts_left -= 1
            self.restarts += 1
            delay = self._backoff.delay_after_run(uptime)
            self._set_state(JobState.BACKOFF)
            self._log.info(f"{self.name} restarting in {delay:.2g}s", code=code)
            self._schedule_restart(delay)
            return
        self._set_state(JobState.EXITED if spawned or success else JobState.FATAL)
        if self._pending_start and self.accepting:
            self._pending_start = False
            self.trigger(self.start_seq)
            return
        self._settle()

    def _schedule_restart(self, delay: float) -> None:
        self._group_wait_until = self._loop.time() + delay + _GROUP_EXIT_GRACE
        self._restart_timer = self._loop.call_later(delay, self._restart)

    def _restart(self) -> None:
        self._restart_timer = None
        if self.accepting and self._previous_group_alive():
            if self._loop.time() < self._group_wait_until:
                # SIGKILLed members die asynchronously: the next run starts on a clean slate.
                self._restart_timer = self._loop.call_later(0.005, self._restart)
                return
            self._log.warn(f"{self.name}: processes of its last run outlived SIGKILL")
        if self.accepting:
            self._start_run()
        else:
            self._stopped()

    def _previous_group_alive(self) -> bool:
        if self._process is None:
            return False
        try:
            os.killpg(self._process.pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True

    def _on_run_timeout(self) -> None:
        self._run_timer = None
        self._log.warn(f"{self.name} timed out after {self.config.run_timeout:g}s, stopping it")
        self._loop.create_task(self._terminate(count_as_stop=False))

    def signal(self, signum: int) -> bool:
        """Send `signum` to the job's process group; returns whether it was running."""
        if self.state not in (JobState.RUNNING, JobState.STOPPING) or self._process is None:
            return False
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, signum)
        return True

    async def restart(self) -> None:
        """Stop the current run (its stop sequence) and start a new one right after."""
        if not self.accepting:
            return
        if self.state in (JobState.RUNNING, JobState.STOPPING):
            self._restart_after_stop = True
            await self._terminate(count_as_stop=True)
            return
        if self._restart_timer is not None:
            self._restart_timer.cancel()
            self._restart_timer = None
        self._start_run()

    async def stop(self) -> None:
        """Stop the job for good: no more runs; its stop signal, then SIGKILL after its timeout."""
        self.accepting = False
        self._pending_start = False
        if self._restart_timer is not None:
            self._restart_timer.cancel()
            self._restart_timer = None
            self._stopped()
            return
        if self.state in (JobState.RUNNING, JobState.STOPPING):
            await self._terminate(count_as_stop=True)
        elif self.state in (JobState.EXITED, JobState.FATAL):
            self._set_state(JobState.STOPPED)

    async def _terminate(self, count_as_stop: bool) -> None:
        if count_as_stop:
            self._stop_requested = True
        if self.state == JobState.RUNNING and count_as_stop:
            self._set_state(JobState.STOPPING)
        self.signal(self.config.stop.signal)
        try:
            async with asyncio.timeout(self.config.stop.timeout):
                await self._exited.wait()
        except TimeoutError:
            self._log.warn(
                f"{self.name} still running {self.config.stop.timeout:g}s after "
                f"{signal.Signals(self.config.stop.signal).name}, killing it"
            )
            self.kill()
            await self._exited.wait()

    def kill(self) -> None:
        """SIGKILL the job's process group now, and let nothing restart it."""
        self.accepting = False
        self._pending_start = False
        self.signal(signal.SIGKILL)

    def give_up(self) -> None:
        """Its `when.timeout` passed before its event: it will not run."""
        self.accepting = False
        self._set_state(JobState.FATAL)
        self._emit("exitFailed", self.name)
        self._settle()

    async def wait_settled(self) -> None:
        """Wait until the job has no process and nothing will restart it."""
        while self.state.active or self._pending_start:
            self._exited.clear()
            await self._exited.wait()

    def _settle(self) -> None:
        self._exited.set()
        self._on_settled(self)

    def _stopped(self) -> None:
        """A pending restart will not happen: the job ends STOPPED."""
        if self.state != JobState.STOPPED:  # a restart through ctl is pending from STOPPED
            self._set_state(JobState.STOPPED)
        self._settle()

    def _set_state(self, new: JobState) -> None:
        check_transition(self.state, new)
        self.state = new

    @staticmethod
    def _close_popen_pipes(process: subprocess.Popen[bytes]) -> None:
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def _give_terminal(fd: int, pgid: int) -> None:
    """Make `pgid` the terminal's foreground group; pilot ignores SIGTTOU just for this call."""
    previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        os.tcsetpgrp(fd, pgid)
    except OSError:
        pass  # no controlling terminal after all; the job still runs
    finally:
        signal.signal(signal.SIGTTOU, previous)
