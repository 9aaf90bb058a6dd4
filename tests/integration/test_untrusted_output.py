"""Bytes from a job or from the network reach the developer's terminal through `pilot logs`
and `pilot traffic`: their control characters are printed escaped, so that they cannot retitle
the window, write the clipboard (OSC 52), clear the screen or overwrite a line; `--raw` prints
them as they came."""

from __future__ import annotations

import contextlib
import os
import pty
import re
import socket
import subprocess
import tty
from collections.abc import Callable
from pathlib import Path

from tests.helpers import PYTHON, REPO, Pilot, python_job, wait_for
from tests.integration.test_up_monitor import exchanges, kept, started

TITLE, CLIPBOARD, CLEAR = "\x1b]0;pwned\x07", "\x1b]52;c;aGVsbG8=\x07", "\x1b[2J\x1b[H"
HOSTILE = f"title {TITLE} clip {CLIPBOARD} clear {CLEAR} real\rforged \x9b6n"
GREEN = "\x1b[32mgreen\x1b[0m"

# Prints a hostile line and a coloured one, then waits.
PRINTER = python_job(f"""
    import time
    print({HOSTILE!r}, flush=True)
    print("colour " + {GREEN!r} + "\\tafter a tab", flush=True)
    while True:
        time.sleep(60)
""")


def on_terminal(*argv: str) -> bytes:
    """What `pilot ARGV` writes to a terminal (a pty in raw mode: bytes as written)."""
    leader, follower = pty.openpty()
    tty.setraw(follower)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("NO_COLOR", None)
    with subprocess.Popen(
        [PYTHON, "-m", "pilot", *argv], stdout=follower, stderr=subprocess.PIPE, env=env
    ) as process:
        os.close(follower)
        out = b""
        with contextlib.suppress(OSError):  # EIO once the program has exited
            while chunk := os.read(leader, 65536):
                out += chunk
        assert process.wait(30) == 0, process.stderr.read() if process.stderr else ""
    os.close(leader)
    return out


def piped(*argv: str) -> bytes:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [PYTHON, "-m", "pilot", *argv], capture_output=True, env=env, timeout=30
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def assert_harmless(out: bytes) -> None:
    """No control character of `out` is obeyed but a colour (SGR), a newline or a tab."""
    assert not re.search(rb"\x1b(?!\[[0-9;]*m)", out), out
    assert b"\r" not in out and b"\x07" not in out and "\x9b".encode() not in out, out


def test_pilot_logs_escapes_what_a_job_printed(pilot: Callable[..., Pilot], tmp_path: Path) -> None:
    """On a terminal, a job's escape sequences and bare CR are printed as text (its colours
    and pilot's are kept); piped, the same; `--raw` prints them as they came."""
    p = pilot({"jobs": [{"name": "api", "exec": PRINTER, "main": True}]})
    p.wait_for_output("after a tab")
    socket_option = ["--socket", str(p.socket)]
    shown = on_terminal("logs", *socket_option, "api")
    assert_harmless(shown)
    escaped = r"title \x1b]0;pwned\x07 clip \x1b]52;c;aGVsbG8=\x07 clear \x1b[2J\x1b[H"
    assert escaped.encode() in shown
    assert rb"real\rforged \x9b6n" in shown
    assert f"colour {GREEN}\tafter a tab".encode() in shown  # the job's colour, and the tab
    assert re.search(rb"\x1b\[\d+m\d\d:\d\d:\d\d\.\d{3} api +\|\x1b\[0m title", shown)
    assert escaped.encode() in piped("logs", *socket_option, "api")
    assert HOSTILE.encode() in on_terminal("logs", *socket_option, "--raw", "api")


def test_pilot_traffic_escapes_what_came_from_the_network(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    """A header and a body carrying escape sequences are printed as text by `pilot traffic
    show` on a terminal (and piped); `--raw` prints them as they came."""
    p = started(pilot, tmp_path)
    body = HOSTILE.encode()
    with socket.create_connection(("127.0.0.1", kept(tmp_path)["api"]), timeout=10) as sock:
        sock.sendall(
            b"POST /hostile HTTP/1.1\r\nHost: api\r\nX-Evil: "
            + CLIPBOARD.encode()
            + b"\r\nContent-Type: text/plain\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )
        assert sock.recv(100).startswith(b"HTTP/1.1 ")
    socket_option = ["--socket", str(p.socket)]
    number = wait_for(
        lambda: next((e["id"] for e in exchanges(p) if e["url"] == "/hostile"), None),
        10,
        message="the exchange recorded",
    )
    listing = on_terminal("traffic", *socket_option)
    assert_harmless(listing)
    assert b"POST /hostile" in listing
    shown = on_terminal("traffic", *socket_option, "show", str(number))
    assert_harmless(shown)
    assert rb"X-Evil: \x1b]52;c;aGVsbG8=\x07" in shown
    assert rb"real\rforged" in shown
    assert rb"X-Evil: \x1b]52;c;aGVsbG8=\x07" in piped(
        "traffic", *socket_option, "show", str(number)
    )
    raw = on_terminal("traffic", *socket_option, "--raw", "show", str(number))
    assert f"X-Evil: {CLIPBOARD}".encode() in raw and body in raw
