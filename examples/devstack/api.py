"""api: GET /items asks the store, found through the registry's DNS (an SRV lookup of
store.service.consul), and answers its items in capitals."""

import http.server
import json
import os
import urllib.request

from dnsfind import srv

VERSION = "1"


class Api(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        host, port = srv("store.service.consul", os.environ["CONSUL_DNS_ADDR"])
        with urllib.request.urlopen(f"http://{host}:{port}/items", timeout=5) as answer:
            items = json.load(answer)
        body = json.dumps({"version": VERSION, "items": [i.upper() for i in items]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        print("api:", format % args, flush=True)


port = int(os.environ["PORT"])
print(f"api: version {VERSION} listening on {port}", flush=True)
http.server.ThreadingHTTPServer(("127.0.0.1", port), Api).serve_forever()
