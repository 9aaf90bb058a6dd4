"""The telemetry endpoint: GET /metrics (Prometheus) and GET /status over TCP."""

from __future__ import annotations

import asyncio

from pilot.interface.commands import Commands
from pilot.interface.http import (
    MAX_HEAD,
    HTTPError,
    Request,
    Response,
    json_response,
    serve_connection,
)
from pilot.log import Log
from pilot.telemetry.metrics import Metrics


class TelemetryServer:
    """Serves metrics and status on `host:port`."""

    MAX_CONNECTIONS = 64  # a few Prometheus servers and people with curl, with room to spare

    def __init__(
        self, host: str, port: int, metrics: Metrics, commands: Commands, log: Log
    ) -> None:
        self.host, self.port = host, port
        self._metrics, self._commands, self._log = metrics, commands, log
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        """Listen on host:port."""
        self._server = await asyncio.start_server(
            serve_connection(self._handle, "telemetry", self.MAX_CONNECTIONS, self._log),
            self.host,
            self.port,
            limit=MAX_HEAD,
        )

    async def close(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()

    async def _handle(self, request: Request) -> Response:
        if request.method != "GET":
            raise HTTPError(405, f"method {request.method} not allowed", allow="GET")
        if request.path == "/metrics":
            return Response(
                200, self._metrics.exposition(), "text/plain; version=0.0.4; charset=utf-8"
            )
        if request.path == "/status":
            return json_response(self._commands.status().to_json())
        raise HTTPError(404, f"no endpoint {request.path}")
