"""Reads a job's stdout/stderr pipe without blocking and hands it on line by line."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

LineSink = Callable[[str], None]
_CHUNK = 65536
_LONGEST_LINE = 65536


class PipeReader:
    """Follows one pipe on the event loop; `drain()` takes what is buffered right now."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int, sink: LineSink) -> None:
        self._loop, self._fd, self._sink = loop, fd, sink
        self._pending = b""
        self.closed = False
        os.set_blocking(fd, False)
        loop.add_reader(fd, self._on_readable)

    def drain(self) -> None:
        """Read everything the pipe holds now and emit it, a last partial line included."""
        while not self.closed and self._read_once():
            pass
        self._flush_partial()

    def close(self) -> None:
        """Stop following the pipe and close it."""
        if self.closed:
            return
        self.closed = True
        self._loop.remove_reader(self._fd)
        self._flush_partial()
        os.close(self._fd)

    def _on_readable(self) -> None:
        self._read_once()

    def _read_once(self) -> bool:
        """Read one chunk; return whether more may be waiting right now."""
        try:
            data = os.read(self._fd, _CHUNK)
        except BlockingIOError:
            return False
        except OSError:
            data = b""
        if not data:
            self.close()
            return False
        self._emit(data)
        return len(data) == _CHUNK

    def _emit(self, data: bytes) -> None:
        lines = (self._pending + data).split(b"\n")
        self._pending = lines.pop()
        if len(self._pending) > _LONGEST_LINE:
            lines.append(self._pending)
            self._pending = b""
        for line in lines:
            self._sink(line.rstrip(b"\r").decode("utf-8", errors="replace"))

    def _flush_partial(self) -> None:
        if self._pending:
            line, self._pending = self._pending, b""
            self._sink(line.rstrip(b"\r").decode("utf-8", errors="replace"))
