"""A minimal HTTP/1.1 server for asyncio streams: one request per connection, JSON answers.
Enough for the control socket and the telemetry endpoint; nothing here is exposed to browsers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

MAX_BODY = 1 << 20
REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


@dataclass
class Request:
    method: str
    path: str
    query: str
    body: bytes

    def json(self) -> Any:
        """The body as JSON; raises HTTPError(400) when it is not."""
        try:
            return json.loads(self.body or b"null")
        except ValueError as error:
            raise HTTPError(400, f"body is not JSON: {error}") from None


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


class HTTPError(Exception):
    """An error answer: `{"error": message}` with `status`."""

    def __init__(self, status: int, message: str, allow: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.allow = status, message, allow


def json_response(value: Any, status: int = 200) -> Response:
    return Response(status, (json.dumps(value, indent=2, default=str) + "\n").encode())


Handler = Callable[[Request], Awaitable[Response]]


def serve_connection(
    handler: Handler,
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    """An asyncio connection callback that answers one request with `handler`."""

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                request = await asyncio.wait_for(_read_request(reader), timeout=10)
                response = await handler(request)
            except HTTPError as error:
                response = json_response({"error": error.message}, error.status)
                if error.allow:
                    response.headers["Allow"] = error.allow
            head = [
                f"HTTP/1.1 {response.status} {REASONS.get(response.status, 'Unknown')}",
                f"Content-Type: {response.content_type}",
                f"Content-Length: {len(response.body)}",
                "Connection: close",
                *(f"{key}: {value}" for key, value in response.headers.items()),
            ]
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + response.body)
            await writer.drain()
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    return on_connection


async def _read_request(reader: asyncio.StreamReader) -> Request:
    line = (await reader.readline()).decode("latin-1").strip()
    parts = line.split()
    if len(parts) != 3:
        raise HTTPError(400, "malformed request line")
    method, target, _ = parts
    length = 0
    while True:
        header = (await reader.readline()).decode("latin-1").strip()
        if not header:
            break
        name, _, value = header.partition(":")
        if name.strip().lower() == "content-length":
            if not (value.strip().isascii() and value.strip().isdigit()):
                raise HTTPError(400, "bad Content-Length")
            length = int(value)
    if length > MAX_BODY:
        raise HTTPError(413, "body too large")
    body = await reader.readexactly(length) if length else b""
    path, _, query = target.partition("?")
    return Request(method.upper(), path, query, body)
