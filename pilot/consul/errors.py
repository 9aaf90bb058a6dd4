"""What went wrong with a Consul call, said in one short line that never carries a secret, and
whether Consul is reachable at all (one line when it goes, repeated with backoff, one when it
is back)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from pilot.log import Log

_ERRNO = re.compile(r"\[Errno -?\d+\] ([^\"')]+)")
_SSL = re.compile(r"\[SSL: [A-Z_]+\] ([^(\"']+)")
REPEAT_FIRST, REPEAT_MAX = 10.0, 300.0  # seconds between "still unreachable" lines


class PollAbandoned(Exception):
    """A blocking query got no answer within its wait, its jitter and a margin."""


def is_transport_error(error: BaseException) -> bool:
    """Whether `error` says nothing answered (refused, timed out, unresolved, TLS, a blocking
    query held past its deadline), as opposed to an answer from Consul that refused the call."""
    import requests

    return isinstance(error, PollAbandoned | requests.ConnectionError | requests.Timeout)


def describe(error: BaseException, secrets: Iterable[str | None] = ()) -> str:
    """One short line for `error`: the reason, not the HTTP library's wording, with every
    secret (and any header value the library quotes) masked."""
    import requests

    text = str(error)
    if isinstance(error, requests.Timeout):
        reason = "timed out"
    elif isinstance(error, requests.exceptions.SSLError):
        match = _SSL.search(text)
        reason = "TLS: " + (match.group(1).strip() if match else "handshake failed")
    elif isinstance(error, requests.ConnectionError):
        if "NameResolutionError" in text or "Failed to resolve" in text:
            reason = "name not resolved"
        else:
            reason = _errno_reason(text, "connection failed").lower()
    elif isinstance(error, requests.exceptions.InvalidHeader):
        reason = "a header value is invalid (the token has spaces or a newline?)"
    else:
        first = text.splitlines()[0] if text else type(error).__name__
        reason = first if len(first) <= 200 else first[:200].rsplit(" ", 1)[0] + " …"
    return redact(reason, secrets)


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every non-empty secret (and its stripped form) replaced by "***"."""
    for secret in secrets:
        for form in {secret, secret.strip()} if secret else ():
            if form:
                text = text.replace(form, "***")
    return text


def _errno_reason(text: str, fallback: str) -> str:
    match = _ERRNO.search(text)
    return match.group(1).strip() if match else fallback


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
