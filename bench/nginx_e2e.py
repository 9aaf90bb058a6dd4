"""Figure 7, end to end through nginx: a new backend's pilot is exec'd → the first request
served by that backend through nginx.

A front pilot runs nginx (template over the passing instances of "backend", `nginx -t`, SIGHUP
on change, `wait.min` 0). Each trial execs a backend pilot whose job is a small HTTP server,
registered with an http health check every 250 ms; the harness asks nginx every 2 ms (a new
connection each time) until the answer comes from that backend, then stops the backend's pilot
and waits until nginx answers 502 again. Needs nginx (apt-get install -y nginx-light) and root.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import time
from pathlib import Path

from bench import common, configs

UPSTREAM = """upstream backend {
{%- for i in service("backend") %}
    server {{ i.address }}:{{ i.port }};
{%- else %}
    server 127.0.0.1:1 down;
{%- endfor %}
}
"""
SERVER = common.job("""
    import http.server, sys
    name, port = sys.argv[1], int(sys.argv[2])
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(name)))
            self.end_headers()
            self.wfile.write(name.encode())
        def log_message(self, *args):
            pass
    http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
""")


def nginx_front(directory: Path, registry: common.Registry) -> tuple[list[str], int]:
    port = configs.free_port()
    prefix = directory / "nginx"
    (prefix / "tmp").mkdir(parents=True)
    conf = prefix / "nginx.conf"
    temp = "\n".join(
        f"    {kind}_temp_path {prefix}/tmp/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf.write_text(f"""user root;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
{temp}
    include {prefix}/upstream.conf;
    server {{
        listen 127.0.0.1:{port};
        location / {{ proxy_pass http://backend; }}
    }}
}}
""")
    nginx = ["nginx", "-p", str(prefix), "-c", str(conf)]
    config = {
        "consul": registry.address,
        "jobs": [
            {
                "name": "nginx",
                "exec": [*nginx, "-g", "daemon off;"],
                "stop": {"signal": "SIGQUIT", "timeout": "5s"},
                "when": {"source": "template.upstream", "once": "rendered"},
            }
        ],
        "templates": [
            {
                "name": "upstream",
                "contents": UPSTREAM,
                "dest": str(prefix / "upstream.conf"),
                "check": [*nginx, "-t", "-q"],
                "on_change": [{"signal": "SIGHUP", "job": "nginx"}],
                "wait": {"min": "0s"},
            }
        ],
    }
    path = common.write_pilot_config(directory, config, "front")
    return [*common.pilot_argv(), "run", "-c", str(path)], port


def ask(port: int) -> str | None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        body = response.read().decode()
        return body if response.status == 200 else f"HTTP {response.status}"
    except OSError:
        return None
    finally:
        conn.close()


def backend_argv(directory: Path, registry: common.Registry, name: str) -> list[str]:
    port = configs.free_port()
    config = {
        "consul": registry.address,
        "jobs": [
            {
                "name": "app",
                "exec": [*SERVER, name, str(port)],
                "service": "backend",
                "port": port,
                "interfaces": ["static:127.0.0.1"],
                "health": {"http": f"http://127.0.0.1:{port}/", "interval": "250ms", "ttl": "5s"},
            }
        ],
    }
    path = common.write_pilot_config(directory, config, name)
    return [*common.pilot_argv(), "run", "-c", str(path)]


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(prog="python -m bench.nginx_e2e", description=__doc__)
    parser.add_argument("--trials", type=int, default=20)
    args = parser.parse_args(argv)
    if not shutil.which("nginx") or os.geteuid() != 0:
        print("# nginx e2e needs root and nginx: apt-get install -y nginx-light")
        return {}
    served: list[float] = []
    with common.registry() as registry, common.workdir("nginx") as directory:
        front_argv, port = nginx_front(directory, registry)
        front = common.spawn(front_argv, stderr=(directory / "front.log").open("wb"))
        try:
            assert common.wait_for(lambda: ask(port) == "HTTP 502", 20, 0.05), "nginx not up"
            for trial in range(args.trials):
                name = f"b{trial}"
                argv_ = backend_argv(directory, registry, name)
                started = time.monotonic()
                backend = common.spawn(argv_)
                try:
                    if common.wait_for(lambda n=name: ask(port) == n, 20, 0.002):
                        served.append(time.monotonic() - started)
                finally:
                    common.stop(backend)
                common.wait_for(lambda: ask(port) == "HTTP 502", 20, 0.01)
                time.sleep(0.2)
        finally:
            common.stop(front)
    text = common.table(
        ["n", "exec → first answer p50 ms", "p90 ms", "max ms"],
        [
            [
                len(served),
                common.ms(common.median(served)),
                common.ms(common.percentile(served, 90)),
                common.ms(max(served)),
            ]
        ],
    )
    common.emit(
        "nginx_e2e",
        "## 7. end to end through nginx\n\n" + text,
        {"served": served},
    )
    return {"served": served}


if __name__ == "__main__":
    main()
