"""The telemetry endpoint: GET /metrics (Prometheus) and GET /status over TCP."""

from __future__ import annotations

from pilot.http.limits import Limits
from pilot.http.messages import HTTPError, Request, Response, json_response
from pilot.http.server import Server
from pilot.interface.commands import Commands
from pilot.log import Log
from pilot.telemetry.metrics import Metrics


class TelemetryServer:
    """Serves metrics and status on `host:port`."""

    # A few Prometheus servers and people with curl, with room to spare.
    LIMITS = Limits(max_head=64 << 10, max_body=1 << 20, max_connections=64)

    def __init__(
        self, host: str, port: int, metrics: Metrics, commands: Commands, log: Log
    ) -> None:
        self.host, self.port = host, port
        self._metrics, self._commands, self._log = metrics, commands, log
        self._server: Server | None = None

    async def start(self) -> None:
        """Listen on host:port."""
        server = Server(self._handle, "telemetry", self.LIMITS, self._log)
        await server.listen_tcp(self.host, self.port)
        self._server = server

    async def close(self) -> None:
        """Stop listening."""
        if self._server is not None:
            await self._server.close()

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
