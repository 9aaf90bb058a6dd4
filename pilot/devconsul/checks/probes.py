"""One run of an HTTP or TCP check, with the statuses and outputs Consul's agent reports."""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import time
from urllib.parse import urljoin, urlsplit

from pilot.devconsul.checks.definitions import CheckSpec
from pilot.devconsul.go.durations import SECOND
from pilot.devconsul.state.catalog import CRITICAL, PASSING, WARNING

DEFAULT_TIMEOUT = 10.0
DEFAULT_OUTPUT_MAX = 4096  # checks.DefaultBufSize
USER_AGENT = "Consul Health Check"
MAX_REDIRECTS = 10


def output_limit(spec: CheckSpec) -> int:
    """How much output a check keeps (OutputMaxSize, default 4096)."""
    return spec.output_max_size if spec.output_max_size > 0 else DEFAULT_OUTPUT_MAX


def tcp_probe(spec: CheckSpec) -> tuple[str, str]:
    """Passing when a TCP connection opens ("TCP connect <addr>: Success")."""
    host, _, port = spec.tcp.rpartition(":")
    timeout = spec.timeout / SECOND if spec.timeout > 0 else DEFAULT_TIMEOUT
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except (OSError, ValueError) as error:
        return CRITICAL, f"dial tcp {spec.tcp}: {_reason(error)}"
    return PASSING, f"TCP connect {spec.tcp}: Success"


def http_probe(spec: CheckSpec) -> tuple[str, str]:
    """2xx passes, 429 warns, anything else (or no answer) is critical; the output is
    "HTTP <method> <url>: <status> Output: <tail of the body>"."""
    method = spec.method or "GET"
    timeout = spec.timeout / SECOND if spec.timeout > 0 else DEFAULT_TIMEOUT
    url = spec.http
    try:
        for _ in range(MAX_REDIRECTS + 1):
            status, reason, location, body = _exchange(spec, method, url, timeout)
            if spec.disable_redirects or status not in (301, 302, 303, 307, 308) or not location:
                break
            url = urljoin(url, location)
        else:
            return CRITICAL, f'{method.title()} "{spec.http}": stopped after 10 redirects'
    except (OSError, ValueError, http.client.HTTPException) as error:
        return CRITICAL, f'{method.title()} "{url}": {_http_reason(url, error)}'
    tail = body[-output_limit(spec) :].decode("utf-8", "replace")
    output = f"HTTP {method} {spec.http}: {status} {reason} Output: {tail}"
    if 200 <= status <= 299:
        return PASSING, output
    return (WARNING if status == 429 else CRITICAL), output


def _exchange(
    spec: CheckSpec, method: str, url: str, timeout: float
) -> tuple[int, str, str | None, bytes]:
    deadline = time.monotonic() + timeout  # Go's Client.Timeout: the whole exchange
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"unsupported protocol scheme {parts.scheme!r}")
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        context = ssl.create_default_context()
        if spec.tls_skip_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        connection = http.client.HTTPSConnection(
            parts.hostname, parts.port, timeout=timeout, context=context
        )
    else:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    headers = {"User-Agent": USER_AGENT, "Accept": "text/plain, text/*, */*"}
    for name, values in spec.header.items():
        headers[name] = ", ".join(values)
    try:
        connection.request(
            method,
            (parts.path or "/") + ("?" + parts.query if parts.query else ""),
            body=spec.body.encode() if spec.body else None,
            headers=headers,
        )
        response = connection.getresponse()
        body = _read_body(response, connection, deadline)
        return response.status, response.reason, response.getheader("Location"), body
    finally:
        connection.close()


def _read_body(
    response: http.client.HTTPResponse, connection: http.client.HTTPConnection, deadline: float
) -> bytes:
    """What arrives of the body before the deadline: as Consul, a body that stalls or breaks
    off leaves the status as the answer's code, with the part that was read as output."""
    chunks = []
    with contextlib.suppress(OSError, http.client.HTTPException):
        while (left := deadline - time.monotonic()) > 0:
            if connection.sock is not None:
                connection.sock.settimeout(left)
            chunk = response.read1(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def _http_reason(url: str, error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
    if isinstance(error, ConnectionRefusedError):
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return f"dial tcp {parts.hostname}:{port}: {_reason(error)}"
    return _reason(error)


def _reason(error: BaseException) -> str:
    """The tail of Go's net error texts, for the common cases."""
    if isinstance(error, ConnectionRefusedError):
        return "connect: connection refused"
    if isinstance(error, TimeoutError):
        return "i/o timeout"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    return str(error)
