"""What went wrong with a Consul call, said in one short line that never carries a secret, and
whether Consul is reachable at all (one line when it goes, repeated with backoff, one when it
is back)."""

from __future__ import annotations

import os
import re
import socket
import ssl
from collections.abc import Callable, Iterable

from pilot.log import Log

_ERRNO = re.compile(r"\[Errno (\d+)\]")
_SSL = re.compile(r"\[SSL: [A-Z_]+\] ([^(\"']+)")
REPEAT_FIRST, REPEAT_MAX = 10.0, 300.0  # seconds between "still unreachable" lines


class ConsulUnreachable(Exception):
    """No answer: refused, timed out, unresolved, TLS, the connection broken, or an answer
    that is not HTTP. Its text is the reason, in a few words."""


class PollAbandoned(ConsulUnreachable):
    """A blocking query got no answer within its wait, its jitter and a margin."""


class ConsulError(Exception):
    """An answer from Consul that refuses the call (4xx, 5xx), or that pilot cannot read;
    its text is the status and Consul's message, as Consul wrote it."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status} {message}")
        self.status, self.message = status, message


def is_transport_error(error: BaseException) -> bool:
    """Whether `error` says nothing answered (refused, timed out, unresolved, TLS, a blocking
    query held past its deadline), as opposed to an answer from Consul that refused the call."""
    return isinstance(error, ConsulUnreachable)


def reason(error: BaseException) -> str:
    """Why a request got no answer, in a few words: the HTTP client's error (a ClientError)
    or, when it had one, the socket error under it."""
    cause = error.__cause__
    if isinstance(cause, ssl.SSLError):
        match = _SSL.search(str(cause))
        return "TLS: " + (match.group(1).strip() if match else "handshake failed")
    if isinstance(cause, socket.gaierror):
        return "name not resolved"
    if isinstance(cause, OSError):
        number = cause.errno
        if number is None:  # asyncio's "Multiple exceptions: [Errno 111] …" (IPv6 and IPv4)
            match = _ERRNO.search(str(cause))
            number = int(match.group(1)) if match else None
        if number is not None:
            return os.strerror(number).lower()
    return str(error) or type(error).__name__


def describe(error: BaseException, secrets: Iterable[str | None] = ()) -> str:
    """One short line for `error`, with every secret masked."""
    text = str(error)
    first = text.splitlines()[0] if text else type(error).__name__
    line = first if len(first) <= 200 else first[:200].rsplit(" ", 1)[0] + " …"
    return redact(line, secrets)


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every non-empty secret (and its stripped form) replaced by "***"."""
    for secret in secrets:
        for form in {secret, secret.strip()} if secret else ():
            if form:
                text = text.replace(form, "***")
    return text


class Reachability:
    """Says once that Consul is unreachable, again at growing intervals while it stays so,
    and once when it answers again."""

    def __init__(self, address: str, log: Log, clock: Callable[[], float]) -> None:
        self._address, self._log, self._clock = address, log, clock
        self._down_since: float | None = None
        self._next_line = 0.0
        self._gap = REPEAT_FIRST
        self.on_back: Callable[[], None] | None = None  # called when Consul answers again

    def failed(self, reason: str) -> None:
        """A call got no answer."""
        now = self._clock()
        if self._down_since is None:
            self._down_since, self._gap = now, REPEAT_FIRST
            self._log.warn(f"consul {self._address} unreachable ({reason}); retrying")
            self._next_line = now + self._gap
        elif now >= self._next_line:
            self._log.warn(
                f"consul {self._address} still unreachable after {now - self._down_since:.0f}s "
                f"({reason}); retrying"
            )
            self._gap = min(self._gap * 2, REPEAT_MAX)
            self._next_line = now + self._gap

    def answered(self) -> None:
        """A call got an answer."""
        if self._down_since is not None:
            self._log.info(
                f"consul {self._address} reachable again after "
                f"{self._clock() - self._down_since:.0f}s"
            )
            self._down_since = None
            if self.on_back is not None:
                self.on_back()
