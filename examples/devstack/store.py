"""store: keeps a list of items; GET /items answers it as JSON."""

import http.server
import json
import os

ITEMS = ["apple", "pear", "quince"]


class Store(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps(ITEMS).encode()
        self.send_response(200 if self.path == "/items" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        print("store:", format % args, flush=True)


port = int(os.environ["PORT"])  # given by pilot up
print(f"store: listening on {port}", flush=True)
http.server.ThreadingHTTPServer(("127.0.0.1", port), Store).serve_forever()
