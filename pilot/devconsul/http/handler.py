"""The HTTP side: read a request, route it, write the answer with Consul's headers.

It keeps framing of its own where `http.server` would answer differently from Consul (Go's
net/http): bodies are read by Go's Content-Length and chunked rules (`body`), refusals are
written as Go's bare status lines, and answers are rendered whole (status line, Go's
canonical header names, Date, Content-Length, body) so each is byte for byte what Consul
sends, and sent in one write."""

from __future__ import annotations

import contextlib
import email.utils
import json
import logging
import select
import socket
import threading
import time
from collections.abc import Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from pilot.devconsul.http.body import (
    BadBody,
    BadFraming,
    content_length,
    read_chunked,
    transfer_chunked,
)
from pilot.devconsul.routes.request import Request, Response
from pilot.devconsul.routes.router import Router
from pilot.devconsul.state.errors import ConsulError

log = logging.getLogger("pilot.devconsul")

TEXT = "text/plain; charset=utf-8"  # what Go's content sniffing says of Consul's error texts
_HTML_SAFE = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026"}


def encode_json(value: Any, pretty: bool) -> bytes:
    """JSON as Go's encoder writes it: UTF-8, HTML characters escaped; `?pretty` indents by 4."""
    if pretty:
        text = json.dumps(value, ensure_ascii=False, indent=4) + "\n"
    else:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return (
        text.translate(_HTML_SAFE)
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
        .encode()
    )


def canonical_header(name: str) -> str:
    """Go's CanonicalMIMEHeaderKey: "X-Consul-ContentHash" is sent as "X-Consul-Contenthash"."""
    return "-".join(part.capitalize() for part in name.split("-"))


class _LastEncoded:
    """The JSON of the last body encoded, by identity: the watchers woken by one write share
    one answer object (see `Store.memo`), encoded once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: tuple[Any, bool, bytes] | None = None

    def encode(self, body: Any, pretty: bool) -> bytes:
        with self._lock:
            last = self._last
        if last is not None and last[0] is body and last[1] == pretty:
            return last[2]
        payload = encode_json(body, pretty)
        if isinstance(body, list | dict):
            with self._lock:
                self._last = (body, pretty, payload)
        return payload


class _LastRendered:
    """The last whole answer rendered (status line, headers, body), reused while nothing of it
    changes: the watchers woken by one write send the same bytes."""

    def __init__(self, server: str) -> None:
        self.server = server
        self._lock = threading.Lock()
        self._last: tuple[tuple[Any, ...], bytes, bytes] | None = None  # key, payload, bytes

    def render(
        self, status: int, headers: list[tuple[str, str]], payload: bytes, head_only: bool
    ) -> bytes:
        key = (status, tuple(headers), head_only, email.utils.formatdate(usegmt=True))
        with self._lock:
            last = self._last
        if last is not None and last[0] == key and last[1] is payload:
            return last[2]
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
        lines = [f"HTTP/1.1 {status} {reason}", f"Server: {self.server}", f"Date: {key[3]}"]
        lines += [f"{name}: {value}" for name, value in headers]
        lines.append(f"Content-Length: {len(payload)}")
        message = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "strict")
        if not head_only:
            message += payload
        with self._lock:
            self._last = (key, payload, message)
        return message


def make_handler(router: Router) -> type[BaseHTTPRequestHandler]:
    """The request handler class serving `router`."""
    encoded = _LastEncoded()
    rendered = _LastRendered("pilot-consul-dev " + BaseHTTPRequestHandler.sys_version)

    class Handler(BaseHTTPRequestHandler):
        """One connection: requests are read, routed and answered in turn."""

        protocol_version = "HTTP/1.1"
        server_version = "pilot-consul-dev"
        # Headers and body go out in separate sends; without this a kept-alive client's delayed
        # ACK holds the body back ~40 ms. Go (real Consul) sets TCP_NODELAY on every connection.
        disable_nagle_algorithm = True

        def read_body(self) -> bytes:
            """The body, by Content-Length or chunked (BadFraming, BadBody: Go's refusals)."""
            chunked = transfer_chunked(self.headers.get_all("Transfer-Encoding", []))
            length = content_length(self.headers.get_all("Content-Length", []), chunked)
            if chunked:
                return read_chunked(self.rfile)
            body = self.rfile.read(length) if length > 0 else b""
            if len(body) < length:
                raise BadBody("unexpected EOF")
            return body

        def refuse(self, error: BadFraming) -> None:
            """Answer as Go's server answers a request it cannot frame, and hang up."""
            reason = HTTPStatus(error.status).phrase
            head = f"HTTP/1.1 {error.status} {reason}\r\nContent-Type: {TEXT}\r\n"
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.wfile.write(f"{head}Connection: close\r\n\r\n{error.text}".encode())

        def serve(self) -> None:
            """Answer one request of any method."""
            started = time.monotonic()
            parts = urlsplit(self.path)
            try:
                body = self.read_body()
            except BadFraming as error:
                log.warning("%s %s refused: %s", self.command, self.path, error.text)
                self.refuse(error)
                return
            except BadBody as error:
                log.warning("%s %s: body unreadable: %s", self.command, self.path, error)
                self.close_connection = True
                text = f"Request decode failed: {error}".encode()
                self.answer(Response(400, raw=text, content_type=TEXT), True, False)
                return
            request = Request(
                self.command,
                unquote(parts.path),
                parse_qs(parts.query, keep_blank_values=True),
                body,
            )
            wrapped = True
            try:
                response, wrapped = router.dispatch(request, parts.query)
            except ConsulError as error:
                response = Response(error.status, raw=error.text.encode(), content_type=TEXT)
                if error.allow:
                    response.headers["Allow"] = error.allow
            except Exception as error:
                log.exception("%s %s failed", self.command, self.path)
                response = Response(500, raw=str(error).encode(), content_type=TEXT)
            self.answer(response, wrapped, request.has("pretty"))
            log.debug(
                "%s %s -> %d (%.1f ms) from=%s",
                self.command,
                self.path,
                response.status,
                (time.monotonic() - started) * 1000,
                self.client_address[0],
            )

        def answer(self, response: Response, wrapped: bool, pretty: bool) -> None:
            """Write the status, Consul's headers and the body."""
            if response.raw is not None:
                payload = response.raw
                kind = response.content_type or (TEXT if payload else None)
            elif response.body is not None:
                payload, kind = encoded.encode(response.body, pretty), "application/json"
            else:
                payload, kind = b"", None
            headers = []
            if kind:
                headers.append(("Content-Type", kind))
            if wrapped:
                headers.append(("X-Consul-Default-Acl-Policy", "allow"))
            if response.index is not None:
                headers.append(("X-Consul-Index", str(max(response.index, 1))))
                headers.append(("X-Consul-Knownleader", "true"))  # Go's canonical spelling
                headers.append(("X-Consul-Lastcontact", "0"))
            headers += [(canonical_header(n), v) for n, v in response.headers.items()]
            if response.stream is not None:
                self.send_response(response.status)
                for name, value in headers:
                    self.send_header(name, value)
                self.stream(response.stream)
                return
            message = rendered.render(response.status, headers, payload, self.command == "HEAD")
            try:  # headers and body in one send: each system call hands the GIL over
                self.wfile.write(message)
            except OSError:  # the client went away (a blocking query it gave up on)
                self.close_connection = True

        def stream(self, chunks: Iterator[bytes]) -> None:
            """Send `chunks` chunked until they end or the client hangs up (checked at each
            pause), then close the connection."""
            self.close_connection = True
            self.send_header("Transfer-Encoding", "chunked")
            try:
                self.end_headers()
                for chunk in chunks:
                    if chunk:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    elif self._hung_up():
                        break
                else:
                    self.wfile.write(b"0\r\n\r\n")
            except OSError:
                pass
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()

        def _hung_up(self) -> bool:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return False
            try:
                return bool(self.connection.recv(1, socket.MSG_PEEK) == b"")
            except OSError:
                return True

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_OPTIONS = do_PATCH = serve

        def log_message(self, format: str, *args: Any) -> None:
            """Requests are logged once, at debug level, by `serve`."""

    return Handler
