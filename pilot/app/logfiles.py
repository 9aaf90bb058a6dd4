"""What pilot keeps of its jobs' output: the recent lines of each (for `pilot logs`) and, with
`logs_dir`, a file per job, `<dir>/<job>.log`, rotated at MAX_BYTES with BACKUPS old files."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from pilot.config.model import Config
from pilot.log import Log
from pilot.process.logbuffer import LogBuffer

if TYPE_CHECKING:  # logging.handlers imports pickle, queue and socket: only with logs_dir
    from logging.handlers import RotatingFileHandler

MAX_BYTES = 10 << 20
BACKUPS = 3


def keep_logs(config: Config, log: Log) -> LogBuffer:
    """Tap `log` for the recent lines of each job (returned) and the files of `logs_dir`."""
    buffer = LogBuffer()
    log.taps.append(buffer.add)
    if config.logs_dir is not None:
        directory = os.path.join(os.path.dirname(config.path), config.logs_dir)
        log.taps.append(LogFiles(directory).write)
    return buffer


class LogFiles:
    """A `Log` tap writing one rotated file per job."""

    def __init__(self, directory: str) -> None:
        os.makedirs(directory, exist_ok=True)
        self.directory = directory
        self._files: dict[str, RotatingFileHandler] = {}

    def write(self, job: str, stream: str, text: str) -> None:
        """Append one line to the job's file (`stream` "pilot" marks pilot's own lines)."""
        import logging
        from logging.handlers import RotatingFileHandler

        handler = self._files.get(job)
        if handler is None:
            path = os.path.join(self.directory, f"{job}.log")
            handler = RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS)
            self._files[job] = handler
        now = time.time()
        stamp = (
            time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now)) + f".{int(now % 1 * 1000):03d}"
        )
        marker = "pilot: " if stream == "pilot" else ""
        record = logging.makeLogRecord({"msg": f"{stamp} {marker}{text}", "levelno": logging.INFO})
        handler.emit(record)
