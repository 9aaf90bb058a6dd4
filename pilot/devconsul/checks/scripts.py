"""Script checks (`Args`), as Consul's CheckMonitor runs them: exit 0 passing, 1 warning,
anything else critical; a run past its Timeout (default 30 s) is killed and critical with
"Timed out (<timeout>) running check"; the output kept is the last OutputMaxSize bytes.

The registry never starts a process itself: it is given a runner, `run_script(args,
timeout) -> (exit code or None when it timed out and was killed, output bytes)`, which
raises OSError when the program cannot be started. `pilot consul-dev` passes
`checks.script_process.run_in_process_group`.
"""

from __future__ import annotations

from collections.abc import Callable

from pilot.devconsul.checks.definitions import CheckSpec
from pilot.devconsul.checks.probes import output_limit
from pilot.devconsul.go.durations import SECOND, format_go_duration
from pilot.devconsul.state.catalog import CRITICAL, PASSING, WARNING

ScriptRunner = Callable[[list[str], float], tuple[int | None, bytes]]
DEFAULT_TIMEOUT = 30.0
REMOTE_DISABLED = (
    "Scripts are disabled on this agent from remote calls; to enable, configure "
    "'enable_script_checks' to true"
)


def script_probe(spec: CheckSpec, run: ScriptRunner) -> tuple[str, str]:
    """One run of a script check: (status, output)."""
    timeout = spec.timeout / SECOND if spec.timeout > 0 else DEFAULT_TIMEOUT
    try:
        code, raw = run(list(spec.args), timeout)
    except OSError as error:
        return CRITICAL, _exec_error(spec.args[0], error)
    output = _captured(raw, output_limit(spec))
    if code is None:
        message = f"Timed out ({format_go_duration(round(timeout * SECOND))}) running check"
        return CRITICAL, message + ("\n\n" + output if output else "")
    return {0: PASSING, 1: WARNING}.get(code, CRITICAL), output


def _captured(raw: bytes, limit: int) -> str:
    """The last `limit` bytes, announced as Consul's circular buffer does when cut."""
    if len(raw) <= limit:
        return raw.decode("utf-8", "replace")
    tail = raw[-limit:].decode("utf-8", "replace")
    return f"Captured {limit} of {len(raw)} bytes\n...\n{tail}"


def _exec_error(program: str, error: OSError) -> str:
    """Go's os/exec error text for a program that cannot start."""
    if isinstance(error, FileNotFoundError) and "/" not in program:
        return f'exec: "{program}": executable file not found in $PATH'
    reason = (error.strerror or str(error)).lower()
    return f"fork/exec {program}: {reason}"
