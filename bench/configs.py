"""The bigger set-ups several figures share: N jobs, watches, templates, telemetry."""

from __future__ import annotations

import http.server
import socket
import threading
from pathlib import Path
from typing import Any

from bench import common

SLEEPER = ["sleep", "3600"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def populate(registry: common.Registry, services: int, instances: int = 2) -> None:
    """`services` services svc0.. with `instances` passing instances each."""
    for s in range(services):
        for i in range(instances):
            registry.register(f"svc{s}", f"svc{s}-{i}", 10000 + 100 * s + i)


def template(index: int, services: int) -> dict[str, Any]:
    lines = [
        f"{{% for i in service('svc{s}') %}}svc{s} {{{{ i.address }}}}:{{{{ i.port }}}}\n"
        "{% endfor %}"
        for s in range(services)
    ]
    return {"name": f"t{index}", "contents": "".join(lines)}


def full_pilot(
    directory: Path,
    registry: common.Registry | None,
    jobs: int = 10,
    watches: int = 10,
    templates: int = 3,
    telemetry: bool = True,
    health_url: str | None = None,
) -> dict[str, Any]:
    """A pilot config: `jobs` sleepers (the first is main), watches on svc0.., templates over
    every watched service, telemetry on loopback; with `health_url`, each job has a port and
    an http health check every 5 s."""
    config: dict[str, Any] = {"jobs": []}
    for j in range(jobs):
        entry: dict[str, Any] = {"name": f"job{j}", "exec": SLEEPER, "main": j == 0}
        if health_url:
            entry |= {
                "port": 20000 + j,
                "interfaces": ["static:127.0.0.1"],
                "health": {"http": health_url, "interval": "5s", "ttl": "15s"},
            }
        config["jobs"].append(entry)
    if registry is not None:
        config["consul"] = registry.address
        config["watches"] = [{"name": f"w{w}", "service": f"svc{w}"} for w in range(watches)]
        config["templates"] = [
            {**template(t, watches), "dest": str(directory / f"t{t}.out")} for t in range(templates)
        ]
    if telemetry:
        config["telemetry"] = {"port": free_port(), "interfaces": ["static:127.0.0.1"]}
    return config


class HealthServer:
    """A loopback HTTP server answering 200 to everything, in a thread of the harness."""

    def __init__(self) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/health"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def peer_argv(peer: str, directory: Path, jobs: int, pilot_config: dict[str, Any]) -> list[str]:
    """`jobs` sleepers under `peer` (tini and dumb-init run one child: a shell starting them)."""
    if peer == "pilot":
        return [
            *common.pilot_argv(),
            "run",
            "-c",
            str(common.write_pilot_config(directory, pilot_config)),
        ]
    if peer == "supervisord":
        programs = {f"job{j}": SLEEPER for j in range(jobs)}
        return ["supervisord", "-n", "-c", str(common.supervisord_conf(directory, programs))]
    argv = SLEEPER if jobs == 1 else ["sh", "-c", "sleep 3600 & " * (jobs - 1) + "exec sleep 3600"]
    return common.wrap(peer, argv, directory)
