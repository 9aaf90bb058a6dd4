"""pilot's log and its jobs' output: `time name | line`, names padded, colour only on a TTY,
or one JSON object per line. Taps see every line about a job: its output, and pilot's own
lines that carry a `job` field."""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable
from typing import IO, Any

LEVELS = {"debug": 10, "info": 20, "warn": 30, "error": 40}
# (job, stream, text): stream is "stdout", "stderr", or "pilot" for pilot's own lines
Tap = Callable[[str, str, str], None]
# the colours of names on a terminal
COLOURS = ("36", "33", "32", "35", "34", "31", "96", "93", "92", "95")


# Control characters (C0 but tab and newline, DEL, C1) as `\x1b`, `\r`: shown, not obeyed
_CONTROLS = (code for code in (*range(0x20), 0x7F, *range(0x80, 0xA0)) if chr(code) not in "\t\n")
_VISIBLE = str.maketrans({code: f"\\x{code:02x}" for code in _CONTROLS} | {ord("\r"): "\\r"})
_SGR = re.compile("\x1b\\[[0-9;:]*m")  # a colour (Select Graphic Rendition), nothing more
_RESET = "\x1b[0m"


def visible(text: str, colours: bool = False) -> str:
    """`text` made harmless for a terminal: its control characters written out (`\\x1b`,
    `\\r`; tabs and newlines kept), so that bytes from a job or the network can neither
    retitle the window, set the clipboard (OSC 52), clear the screen nor overwrite a line
    (a bare CR). With `colours`, colour sequences (SGR) are kept, and reset at the end."""
    if not colours or "\x1b" not in text:
        return text.translate(_VISIBLE)
    out, start = [], 0
    for match in _SGR.finditer(text):
        out += [text[start : match.start()].translate(_VISIBLE), match.group()]
        start = match.end()
    out.append(text[start:].translate(_VISIBLE))
    return "".join(out) + (_RESET if start else "")


def clock_text(moment: float) -> str:
    """`HH:MM:SS.mmm` of `moment` in local time, as every line of pilot's log starts."""
    return time.strftime("%H:%M:%S", time.localtime(moment)) + f".{int(moment % 1 * 1000):03d}"


class Log:
    """Writes pilot's own messages (to stderr) and job output lines (to the matching stream)."""

    def __init__(
        self,
        level: str = "info",
        fmt: str = "text",
        names: tuple[str, ...] = (),
        stdout: IO[str] | None = None,
        stderr: IO[str] | None = None,
    ) -> None:
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.taps: list[Tap] = []
        self.configure(level, fmt, names)

    def configure(self, level: str, fmt: str, names: tuple[str, ...]) -> None:
        """Apply the config's logging section and the job names used for padding."""
        self.threshold = LEVELS[level]
        self.json = fmt == "json"
        if self.json:  # imported for this format only: `pilot --` starts its command sooner
            from json import dumps

            self._dumps: Callable[..., str] = dumps
        self.width = max((len(n) for n in (*names, "pilot")), default=5)
        allowed = not os.environ.get("NO_COLOR")
        self._coloured = {
            id(stream): allowed and _isatty(stream) for stream in (self.stdout, self.stderr)
        }
        self._colours = {
            name: COLOURS[i % len(COLOURS)] for i, name in enumerate(("pilot", *names))
        }

    def debug(self, message: str, **fields: Any) -> None:
        self._own("debug", message, fields)

    def info(self, message: str, **fields: Any) -> None:
        self._own("info", message, fields)

    def warn(self, message: str, **fields: Any) -> None:
        self._own("warn", message, fields)

    def error(self, message: str, **fields: Any) -> None:
        self._own("error", message, fields)

    def job_line(self, name: str, stream: str, text: str) -> None:
        """One line of a job's output (`stream` is "stdout" or "stderr")."""
        out = self.stdout if stream == "stdout" else self.stderr
        for tap in self.taps:
            tap(name, stream, text)
        if self.json:
            self._write(
                out,
                self._dumps(
                    {
                        "time": _iso_now(),
                        "level": "info",
                        "source": name,
                        "stream": stream,
                        "msg": text,
                    },
                    ensure_ascii=False,
                ),
            )
        else:
            self._write(out, f"{self._prefix(name, out)}{text}")

    def _own(self, level: str, message: str, fields: dict[str, Any]) -> None:
        if LEVELS[level] < self.threshold:
            return
        # `job` names the job a line is about; the text form's message names it already.
        extra = "".join(f" {key}={value}" for key, value in fields.items() if key != "job")
        tag = "" if level == "info" else f"{level}: "
        if "job" in fields:
            for tap in self.taps:
                tap(str(fields["job"]), "pilot", f"{tag}{message}{extra}")
        if self.json:
            record = {"time": _iso_now(), "level": level, "source": "pilot", "msg": message}
            record.update(fields)
            self._write(self.stderr, self._dumps(record, ensure_ascii=False, default=str))
            return
        prefix = self._prefix("pilot", self.stderr)
        # A multi-line value (a check's output) keeps the prefix on every line.
        lines = f"{tag}{message}{extra}".rstrip("\n").split("\n")
        self._write(self.stderr, "\n".join(prefix + line for line in lines))

    def _prefix(self, name: str, out: IO[str]) -> str:
        """`time name |`, in the name's colour when `out` is a terminal."""
        label = f"{clock_text(time.time())} {name.ljust(self.width)} |"
        colour = self._colours.get(name) if self._coloured.get(id(out)) else None
        return f"\x1b[{colour}m{label}\x1b[0m " if colour else label + " "

    @staticmethod
    def _write(out: IO[str], line: str) -> None:
        try:
            out.write(line + "\n")
            out.flush()
        except (BrokenPipeError, ValueError):
            pass  # nobody reads our output any more; supervision goes on


def _iso_now() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
