"""The control socket: HTTP over a unix socket (mode 0600, never TCP), routed to Commands.
ContainerPilot's v3 endpoints keep their meaning so existing scripts keep working."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Awaitable, Callable

from pilot.http.limits import Limits
from pilot.http.messages import HTTPError, Request, Response, json_response
from pilot.http.server import Server
from pilot.interface import routes
from pilot.interface.commands import CommandError, Commands
from pilot.log import Log
from pilot.process.sockets import unix_socket_answers

# Only root reaches the socket: a burst of `pilot ctl` calls waits in the listen backlog rather
# than be refused, and as many connections as slow scripts may hold are served side by side.
LIMITS = Limits(max_head=64 << 10, max_body=1 << 20, max_connections=512)


class SocketInUse(OSError):
    """Another pilot answers on the socket path (or something else is there)."""


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
            if unix_socket_answers(self.path):
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
            return await _route(self._commands, request)
        except CommandError as error:
            raise HTTPError(error.status, error.message) from None
        except routes.QueryError as error:
            raise HTTPError(400, str(error)) from None


Endpoint = Callable[[Commands, Request], Awaitable[Response]]
JobEndpoint = Callable[[Commands, Request, str], Awaitable[Response]]


async def _route(commands: Commands, request: Request) -> Response:
    """The endpoint of the request's path (a job's, an exchange's, or a fixed one)."""
    path = request.path.rstrip("/")
    if path in ENDPOINTS:
        route, endpoint = ENDPOINTS[path]
        _allow(request, route)
        return await endpoint(commands, request)
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
    if action not in JOB_ENDPOINTS:
        raise HTTPError(404, f"no action {action!r} ({', '.join(routes.JOB_ACTIONS)})")
    return await JOB_ENDPOINTS[action](commands, request, name)


def _ok() -> Response:
    return json_response({"ok": True})


async def _ping(commands: Commands, request: Request) -> Response:
    return Response(200, b"ok\n", "text/plain")


async def _status(commands: Commands, request: Request) -> Response:
    return json_response(commands.status().to_json())


async def _putenv(commands: Commands, request: Request) -> Response:
    commands.putenv(request.json())
    return _ok()


async def _putmetric(commands: Commands, request: Request) -> Response:
    commands.putmetric(request.json())
    return _ok()


async def _reload(commands: Commands, request: Request) -> Response:
    await commands.reload()
    return _ok()


async def _maintenance_on(commands: Commands, request: Request) -> Response:
    await commands.maintenance(True, routes.MaintenanceQuery.parse(request.query).reason)
    return _ok()


async def _maintenance_off(commands: Commands, request: Request) -> Response:
    await commands.maintenance(False, routes.MaintenanceQuery.parse(request.query).reason)
    return _ok()


async def _logs(commands: Commands, request: Request) -> Response:
    query = routes.LogsQuery.parse(request.query)
    return json_response(await request.unless_gone(commands.logs(query)))


async def _traffic(commands: Commands, request: Request) -> Response:
    query = routes.TrafficQuery.parse(request.query)
    return json_response(await request.unless_gone(commands.traffic(query)))


ENDPOINTS: dict[str, tuple[routes.Route, Endpoint]] = {
    route.path: (route, endpoint)
    for route, endpoint in (
        (routes.PING, _ping),
        *((routes.Route("GET", alias), _ping) for alias in routes.PING_ALIASES),
        (routes.STATUS, _status),
        (routes.PUTENV, _putenv),
        (routes.RELOAD, _reload),
        (routes.PUTMETRIC, _putmetric),
        (routes.MAINTENANCE_ON, _maintenance_on),
        (routes.MAINTENANCE_OFF, _maintenance_off),
        (routes.LOGS, _logs),
        (routes.TRAFFIC, _traffic),
    )
}


async def _restart(commands: Commands, request: Request, job: str) -> Response:
    await commands.restart_job(job)
    return _ok()


async def _stop(commands: Commands, request: Request, job: str) -> Response:
    await commands.stop_job(job)
    return _ok()


async def _start(commands: Commands, request: Request, job: str) -> Response:
    await commands.start_job(job)
    return _ok()


async def _rebuild(commands: Commands, request: Request, job: str) -> Response:
    await commands.rebuild_job(job)
    return _ok()


async def _signal(commands: Commands, request: Request, job: str) -> Response:
    body = request.json()
    sent = commands.signal_job(job, body.get("signal") if isinstance(body, dict) else None)
    return json_response({"ok": True, "delivered": sent})


JOB_ENDPOINTS: dict[str, JobEndpoint] = {
    "restart": _restart,
    "stop": _stop,
    "start": _start,
    "signal": _signal,
    "rebuild": _rebuild,
}


def _allow(request: Request, route: routes.Route) -> None:
    if request.method != route.method:
        raise HTTPError(405, f"method {request.method} not allowed", allow=route.method)


