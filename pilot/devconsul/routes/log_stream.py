"""GET /v1/agent/monitor: consul-dev's log lines streamed as they are written, in hclog's
text format or as JSON (`?logjson`), from `?loglevel=` (default INFO) up. Lines below the
level consul-dev logs at (`--log-level`) are never written, so never streamed."""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
from collections.abc import Iterator

from pilot.devconsul.routes.request import Request, Response
from pilot.devconsul.routes.router import Router
from pilot.devconsul.state.errors import ConsulError

LEVELS = {
    "TRACE": logging.DEBUG,
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARN": logging.WARNING,
    "ERR": logging.ERROR,
    "ERROR": logging.ERROR,
}
NAMES = {logging.DEBUG: "DEBUG", logging.INFO: "INFO", logging.WARNING: "WARN"}
PAUSE = 1.0  # how often an idle stream checks that its client is still there


class LogStreams:
    """The open log streams of GET /v1/agent/monitor; `close()` ends them all."""

    def __init__(self, logger: str = "pilot.devconsul") -> None:
        self.logger = logging.getLogger(logger)
        self._queues: set[queue.Queue[bytes | None]] = set()
        self._lock = threading.Lock()
        self._closed = threading.Event()

    def add_routes(self, router: Router) -> None:
        """Serve /v1/agent/monitor."""
        router.add("/v1/agent/monitor", ("GET",), self.monitor)

    def monitor(self, request: Request) -> Response:
        """Validate the level, then stream."""
        raw = request.param("loglevel") or "INFO"
        level = LEVELS.get(raw.upper())
        if level is None:
            raise ConsulError(400, f"Unknown log level: {raw}")
        as_json = request.has("logjson")
        stream = self._stream(level, as_json)
        return Response(content_type="text/plain; charset=utf-8", stream=stream)

    @property
    def open(self) -> int:
        """How many streams are open."""
        with self._lock:
            return len(self._queues)

    def close(self) -> None:
        """End every stream, without waiting on a client that does not read."""
        self._closed.set()
        with self._lock:
            for lines in self._queues:
                with contextlib.suppress(queue.Full):  # full: its stream sees `_closed` first
                    lines.put_nowait(None)

    def _stream(self, level: int, as_json: bool) -> Iterator[bytes]:
        lines: queue.Queue[bytes | None] = queue.Queue(maxsize=512)
        handler = _QueueHandler(lines, as_json)
        handler.setLevel(level)
        with self._lock:
            self._queues.add(lines)
        self.logger.addHandler(handler)
        try:
            while not self._closed.is_set():
                try:
                    line = lines.get(timeout=PAUSE)
                except queue.Empty:
                    yield b""
                    continue
                if line is None:
                    return
                yield line
        finally:
            self.logger.removeHandler(handler)
            with self._lock:
                self._queues.discard(lines)


class _QueueHandler(logging.Handler):
    def __init__(self, lines: queue.Queue[bytes | None], as_json: bool) -> None:
        super().__init__()
        self.lines, self.as_json = lines, as_json

    def emit(self, record: logging.LogRecord) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        stamp += f".{int(record.msecs):03d}Z"
        name = NAMES.get(record.levelno, "ERROR")
        message = record.getMessage()
        if self.as_json:
            text = json.dumps(
                {
                    "@level": name.lower(),
                    "@message": message,
                    "@module": "agent",
                    "@timestamp": stamp,
                }
            )
        else:
            text = f"{stamp} [{name}]{' ' * (6 - len(name))}agent: {message}"
        with contextlib.suppress(queue.Full):  # a client that does not read loses lines
            self.lines.put_nowait((text + "\n").encode())
