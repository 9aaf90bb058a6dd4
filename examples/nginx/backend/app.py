"""A tiny backend: answers every GET with its instance id (and serves /health); the path it
received is in the X-Path response header."""

import contextlib
import http.server
import os
import socket
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = f"{os.environ.get('INSTANCE', socket.gethostname())}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("X-Path", self.path)  # what reached it, once nginx stripped prefixes
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


address = sys.argv[1] if len(sys.argv) > 1 else "0.0.0.0:8000"
host, _, port = address.rpartition(":")
server = http.server.ThreadingHTTPServer((host, int(port)), Handler)
server.daemon_threads = True
with contextlib.suppress(KeyboardInterrupt):
    server.serve_forever()
