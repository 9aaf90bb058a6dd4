"""The hand-over of signals from pilot's recorder (`pilot --` before its loop exists) to the
loop (pilot/process/signals.py): each signal is handled once, whenever it arrives. Run in a
Python of its own, which signals itself."""

from __future__ import annotations

import os
import subprocess
import textwrap

from tests.helpers import PYTHON, REPO, scaled

# SIGUSR1 before the recorder hands over, SIGUSR2 halfway through (the loop's wakeup fd is set
# by its first handler, SIGUSR2's own handler is not yet the loop's), SIGHUP after.
HANDOVER = """
    import asyncio, os, signal
    from pilot.process.signals import HANDLED_SIGNALS, SignalRecorder

    recorder = SignalRecorder()
    recorder.install()
    os.kill(os.getpid(), signal.SIGUSR1)
    handled = []

    async def main():
        loop = asyncio.get_running_loop()
        for number, signum in enumerate(HANDLED_SIGNALS):
            loop.add_signal_handler(signum, handled.append, signum)
            if number == 0:
                os.kill(os.getpid(), signal.SIGUSR2)
        handled[:0] = recorder.take()  # replayed first, as the supervisor does
        os.kill(os.getpid(), signal.SIGHUP)
        while len(handled) < 3:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)  # a signal handled twice would show by now

    asyncio.run(main())
    print(" ".join(signal.Signals(s).name for s in handled))
"""


def test_every_signal_is_handled_once_across_the_handover() -> None:
    result = subprocess.run(
        [PYTHON, "-c", textwrap.dedent(HANDOVER)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=scaled(20),
    )
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.split()) == ["SIGHUP", "SIGUSR1", "SIGUSR2"]
    assert result.stdout.split()[0] == "SIGUSR1"
