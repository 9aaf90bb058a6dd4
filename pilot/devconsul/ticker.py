"""The registry's own clock work: TTL expiry, HTTP/TCP checks, session expiry, and the
reaper of services critical for longer than DeregisterCriticalServiceAfter."""

from __future__ import annotations

import socket
import threading
import time
import urllib.error
import urllib.request

from pilot.devconsul.state import Check, State

TICK = 0.05


class Ticker:
    """One thread that wakes every TICK; HTTP/TCP checks run on short-lived threads."""

    def __init__(self, state: State, reap_interval: float = 30.0) -> None:
        self._state, self._reap_interval = state, reap_interval
        self._stop = threading.Event()
        self._running: set[str] = set()
        self._next_reap = time.monotonic() + reap_interval
        self.thread = threading.Thread(target=self._run, name="consul-dev ticker", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(TICK):
            now = time.monotonic()
            state = self._state
            with state.lock:
                for check in list(state.checks.values()):
                    if check.type == "ttl" and check.deadline and now > check.deadline:
                        check.deadline = None
                        last = check.output
                        output = (
                            f"TTL expired (last output before timeout follows): {last}"
                            if last
                            else "TTL expired"
                        )
                        state.set_check(check, "critical", output)
                    elif (
                        check.type in ("http", "tcp")
                        and now >= check.next_run
                        and check.id not in self._running
                    ):
                        check.next_run = now + (check.interval or 10.0)
                        self._running.add(check.id)
                        threading.Thread(target=self._probe, args=(check,), daemon=True).start()

                for session in list(state.sessions.values()):
                    if session.expires is not None and now > session.expires:
                        state.invalidate_session(session.id)
                if now >= self._next_reap:
                    self._next_reap = now + self._reap_interval
                    self._reap(now)

    def _reap(self, now: float) -> None:
        state = self._state
        for check in list(state.checks.values()):
            if (
                check.deregister_after is not None
                and check.critical_since is not None
                and now - check.critical_since > check.deregister_after
                and check.service_id in state.services
            ):
                state.remove_service(check.service_id)

    def _probe(self, check: Check) -> None:
        try:
            status, output = _http(check) if check.type == "http" else _tcp(check)
            with self._state.lock:
                if self._state.checks.get(check.id) is check:
                    self._state.set_check(check, status, output)
        finally:
            self._running.discard(check.id)


def _http(check: Check) -> tuple[str, str]:
    url = check.http or ""
    try:
        with urllib.request.urlopen(url, timeout=check.timeout or 10.0) as response:
            body = response.read(4096).decode("utf-8", "replace")
            code = response.status
    except urllib.error.HTTPError as error:
        body, code = error.read(4096).decode("utf-8", "replace"), error.code
    except (OSError, ValueError) as error:
        return "critical", f'Get "{url}": {error}'
    status = "passing" if 200 <= code < 300 else "warning" if code == 429 else "critical"
    return status, f"HTTP GET {url}: {code} Output: {body}"


def _tcp(check: Check) -> tuple[str, str]:
    address = check.tcp or ""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=check.timeout or 10.0):
            pass
    except (OSError, ValueError) as error:
        return "critical", f"dial tcp {address}: {error}"
    return "passing", f"TCP connect {address}: Success"
