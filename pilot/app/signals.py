"""Signals on pilot's event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from pilot.process.signals import HANDLED_SIGNALS


def install_handlers(loop: asyncio.AbstractEventLoop, on_signal: Callable[[int], None]) -> None:
    """Route every signal pilot handles (`HANDLED_SIGNALS`, SIGCHLD included) to `on_signal`
    on the loop."""
    for signum in HANDLED_SIGNALS:
        loop.add_signal_handler(signum, on_signal, signum)
