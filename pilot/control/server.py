"""The control socket: HTTP over a unix socket (mode 0600, never TCP), routed to Commands.
ContainerPilot's v3 endpoints keep their meaning so existing scripts keep working."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import stat
from urllib.parse import parse_qs

from pilot.app.commands import CommandError, Commands
from pilot.control.http import HTTPError, Request, Response, json_response, serve_connection


class SocketInUse(Exception):
    """Another pilot answers on the socket path."""


class ControlServer:
    """Serves the control API on `path` until `close()`."""

    def __init__(self, path: str, commands: Commands) -> None:
        self.path, self._commands = path, commands
        self._server: asyncio.AbstractServer | None = None

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
        previous = os.umask(0o177)  # the socket is created 0600, never briefly wider
        try:
            self._server = await asyncio.start_unix_server(
                serve_connection(self._handle), path=self.path
            )
        finally:
            os.umask(previous)
        os.chmod(self.path, 0o600)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)

    async def _handle(self, request: Request) -> Response:
        try:
            return await self._route(request)
        except CommandError as error:
            raise HTTPError(error.status, error.message) from None

    async def _route(self, request: Request) -> Response:
        path, method, commands = request.path.rstrip("/"), request.method, self._commands
        ok = json_response({"ok": True})
        if path == "/v3/ping" or path == "/v1/ping":
            _allow(method, "GET")
            return Response(200, b"ok\n", "text/plain")
        if path == "/v1/status":
            _allow(method, "GET")
            return json_response(commands.status())
        if path == "/v3/environ":
            _allow(method, "POST")
            commands.putenv(request.json())
            return ok
        if path == "/v3/reload":
            _allow(method, "POST")
            await commands.reload()
            return ok
        if path == "/v3/metric":
            _allow(method, "POST")
            commands.putmetric(request.json())
            return ok
        if path in ("/v3/maintenance/enable", "/v3/maintenance/disable"):
            _allow(method, "POST")
            reason = parse_qs(request.query).get("reason", [None])[0]
            await commands.maintenance(path.endswith("enable"), reason)
            return ok
        parts = path.split("/")
        if len(parts) == 5 and parts[1:3] == ["v1", "jobs"]:
            name, action = parts[3], parts[4]
            _allow(method, "POST")
            if action == "restart":
                await commands.restart_job(name)
            elif action == "stop":
                await commands.stop_job(name)
            elif action == "start":
                await commands.start_job(name)
            elif action == "signal":
                body = request.json()
                sent = commands.signal_job(
                    name, body.get("signal") if isinstance(body, dict) else None
                )
                return json_response({"ok": True, "delivered": sent})
            else:
                raise HTTPError(404, f"no action {action!r} (restart, stop, start, signal)")
            return ok
        raise HTTPError(404, f"no endpoint {request.path}")


def _allow(method: str, allowed: str) -> None:
    if method != allowed:
        raise HTTPError(405, f"method {method} not allowed", allow=allowed)


def _answers(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        try:
            probe.connect(path)
        except OSError:
            return False
        return True
