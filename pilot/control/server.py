"""The control socket: HTTP over a unix socket (mode 0600, never TCP), routed to Commands.
ContainerPilot's v3 endpoints keep their meaning so existing scripts keep working."""

from __future__ import annotations

import contextlib
import os
import socket
import stat
from urllib.parse import parse_qs

from pilot.http.limits import Limits
from pilot.http.messages import HTTPError, Request, Response, json_response
from pilot.http.server import Server
from pilot.interface import routes
from pilot.interface.commands import CommandError, Commands
from pilot.log import Log

LONGEST_LOG_WAIT = 60.0  # seconds a `pilot logs -f` poll may be held
# Only root reaches the socket: a burst of `pilot ctl` calls waits in the listen backlog rather
# than be refused, and as many connections as slow scripts may hold are served side by side.
LIMITS = Limits(max_head=64 << 10, max_body=1 << 20, max_connections=512)


class SocketInUse(Exception):
    """Another pilot answers on the socket path."""


class ControlServer:
    """Serves the control API on `path` until `close()`."""

    def __init__(self, path: str, commands: Commands, log: Log) -> None:
        self.path, self._commands, self._log = path, commands, log
        self._server: Server | None = None

    async def start(self) -> None:
        """Listen on the socket; a stale socket file is replaced, a live one is refused.

        Raises:
            SocketInUse: another process answers on the path.
        """
        if os.path.lexists(self.path):
            if not stat.S_ISSOCK(os.lstat(self.path).st_mode):
                raise SocketInUse(f"{self.path} exists and is not a socket; not replacing it")
            if _answers(self.path):
                raise SocketInUse(f"another pilot is listening on {self.path}")
            os.unlink(self.path)
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        server = Server(self._handle, "control socket", LIMITS, self._log)
        previous = os.umask(0o177)  # the socket is created 0600, never briefly wider
        try:
            server.listen_unix(self.path)
            self._server = server
        finally:
            os.umask(previous)
        os.chmod(self.path, 0o600)

    async def close(self) -> None:
        """Stop listening and remove the socket file."""
        if self._server is not None:
            await self._server.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)

    async def _handle(self, request: Request) -> Response:
        try:
            return await self._route(request)
        except CommandError as error:
            raise HTTPError(error.status, error.message) from None

    async def _route(self, request: Request) -> Response:
        path, commands = request.path.rstrip("/"), self._commands
        ok = json_response({"ok": True})
        if path in (routes.PING[1], *routes.PING_ALIASES):
            _allow(request, routes.PING)
            return Response(200, b"ok\n", "text/plain")
        if path == routes.STATUS[1]:
            _allow(request, routes.STATUS)
            return json_response(commands.status().to_json())
        if path == routes.PUTENV[1]:
            _allow(request, routes.PUTENV)
            commands.putenv(request.json())
            return ok
        if path == routes.RELOAD[1]:
            _allow(request, routes.RELOAD)
            await commands.reload()
            return ok
        if path == routes.PUTMETRIC[1]:
            _allow(request, routes.PUTMETRIC)
            commands.putmetric(request.json())
            return ok
        if path in (routes.MAINTENANCE_ON[1], routes.MAINTENANCE_OFF[1]):
            _allow(request, routes.MAINTENANCE_ON)
            reason = parse_qs(request.query).get("reason", [None])[0]
            await commands.maintenance(path == routes.MAINTENANCE_ON[1], reason)
            return ok
        if path == routes.LOGS[1]:
            _allow(request, routes.LOGS)
            return json_response(await commands.logs(*_logs_query(request.query)))
        if path == routes.TRAFFIC[1]:
            _allow(request, routes.TRAFFIC)
            return json_response(await commands.traffic(*_traffic_query(request.query)))
        if path.startswith(routes.EXCHANGE_PREFIX):
            _allow(request, routes.TRAFFIC)
            number = path.removeprefix(routes.EXCHANGE_PREFIX)
            if not number.isdigit():
                raise HTTPError(404, f"no exchange {number!r}")
            return json_response(commands.exchange(int(number)))
        job_action = routes.parse_job_action(path)
        if job_action is None:
            raise HTTPError(404, f"no endpoint {request.path}")
        name, action = job_action
        _allow(request, routes.job_action(name, action))
        if action == "restart":
            await commands.restart_job(name)
        elif action == "stop":
            await commands.stop_job(name)
        elif action == "start":
            await commands.start_job(name)
        elif action == "rebuild":
            await commands.rebuild_job(name)
        elif action == "signal":
            body = request.json()
            sent = commands.signal_job(name, body.get("signal") if isinstance(body, dict) else None)
            return json_response({"ok": True, "delivered": sent})
        else:
            raise HTTPError(404, f"no action {action!r} ({', '.join(routes.JOB_ACTIONS)})")
        return ok


def _number(
    values: dict[str, list[str]], key: str, kind: type[int] | type[float]
) -> float | None:
    """The query parameter `key` as a number from 0, or None when absent (400 when wrong)."""
    raw = values.get(key, [None])[0]
    if raw is None:
        return None
    try:
        value = kind(raw)
    except ValueError:
        raise HTTPError(400, f"{key}: {raw!r} is not a number") from None
    if not 0 <= value < 1e12:
        raise HTTPError(400, f"{key}: out of range")
    return value


def _traffic_query(query: str) -> tuple[list[str], int, int | None, float, bool]:
    """(services, after, last, wait, whole) of /v1/traffic?service=A&after=N&n=N&wait=S&whole=1."""
    values = parse_qs(query)
    last = _number(values, "n", int)
    return (
        values.get("service", []),
        int(_number(values, "after", int) or 0),
        None if last is None else int(last),
        min(_number(values, "wait", float) or 0.0, LONGEST_LOG_WAIT),
        values.get("whole", ["0"])[0] not in ("0", ""),
    )


def _logs_query(query: str) -> tuple[list[str], int, int | None, float | None, float]:
    """(jobs, after, last, since, wait) of /v1/logs?job=A&job=B&after=N&n=N&since=T&wait=S."""
    values = parse_qs(query)

    def number(key: str, kind: type[int] | type[float]) -> float | None:
        return _number(values, key, kind)

    last = number("n", int)
    wait = min(number("wait", float) or 0.0, LONGEST_LOG_WAIT)
    return (
        values.get("job", []),
        int(number("after", int) or 0),
        None if last is None else int(last),
        number("since", float),
        wait,
    )


def _allow(request: Request, route: tuple[str, str]) -> None:
    if request.method != route[0]:
        raise HTTPError(405, f"method {request.method} not allowed", allow=route[0])


def _answers(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        try:
            probe.connect(path)
        except OSError:
            return False
        return True
