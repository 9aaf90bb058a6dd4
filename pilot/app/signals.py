"""Signals as pilot (often PID 1) handles them."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable

SHUTDOWN_SIGNALS = (signal.SIGTERM, signal.SIGINT)
EVENT_SIGNALS = (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)
FORWARD_ONLY_SIGNALS = (signal.SIGQUIT, signal.SIGALRM, signal.SIGWINCH)
# pilot must never be stopped by job control; a handler (not SIG_IGN) keeps children's default.
JOB_CONTROL_SIGNALS = (signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU)


def reset_inherited_signals() -> None:
    """Give children an empty signal mask and default dispositions.

    Handlers are reset by exec, and subprocess restores SIGPIPE/SIGXFSZ, but a mask or an
    ignored disposition inherited from whoever started pilot would pass on to every job.
    """
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    for signum in signal.valid_signals():
        if signum in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGKILL, signal.SIGSTOP):
            continue
        with contextlib.suppress(OSError, ValueError):
            if signal.getsignal(signum) == signal.SIG_IGN:
                signal.signal(signum, signal.SIG_DFL)


def install_handlers(loop: asyncio.AbstractEventLoop, on_signal: Callable[[int], None]) -> None:
    """Route every signal pilot cares about, SIGCHLD included, to `on_signal` on the loop."""
    handled = (
        signal.SIGCHLD,
        *SHUTDOWN_SIGNALS,
        *EVENT_SIGNALS,
        *FORWARD_ONLY_SIGNALS,
        *JOB_CONTROL_SIGNALS,
    )
    for signum in handled:
        loop.add_signal_handler(signum, on_signal, signum)
