"""web: GET / shows the api's items (API_URL, injected by pilot up) and, when the stack
resolves it from a remote Consul, a quote of the day (QUOTES_URL)."""

import http.server
import json
import os
import urllib.request


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return bytes(answer.read())


class Web(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        api = json.loads(fetch(os.environ["API_URL"] + "/items"))
        lines = [f"items (api v{api['version']}): {', '.join(api['items'])}"]
        if "QUOTES_URL" in os.environ:
            lines.append("quote: " + fetch(os.environ["QUOTES_URL"]).decode().strip())
        body = ("\n".join(lines) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        print("web:", format % args, flush=True)


port = int(os.environ["PORT"])
print(f"web: listening on {port}", flush=True)
http.server.ThreadingHTTPServer(("127.0.0.1", port), Web).serve_forever()
