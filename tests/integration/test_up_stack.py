"""`pilot up`: the embedded registry, kept ports, injected addresses, restarting one service."""

from __future__ import annotations

import json
import os
import signal
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rdatatype
import requests

from tests.helpers import Pilot, python_job, scaled, wait_for

# A tiny HTTP service: answers its name, listens on $PORT, writes its environment to <name>.env.
SERVICE = python_job("""
    import http.server, json, os, sys
    name = sys.argv[1]
    json.dump(dict(os.environ), open(name + ".env", "w"))
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = name.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *args):
            print(name, "served", self.path, flush=True)
    server = http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler)
    print(name, "listening on", os.environ["PORT"], flush=True)
    server.serve_forever()
""")


def stack(tmp_path: Path, *names: str, **extra: Any) -> dict[str, Any]:
    """A config of `names` services on automatic ports."""
    return {
        "jobs": [{"name": name, "exec": [*SERVICE, name], "port": "auto"} for name in names],
        "control": {"socket": str(tmp_path / "pilot.sock")},
        **extra,
    }


def up(pilot: Callable[..., Pilot], config: dict[str, Any]) -> Pilot:
    return pilot(config, command="up")


def ports(tmp_path: Path) -> dict[str, int]:
    """The kept ports (none before pilot up wrote them)."""
    path = tmp_path / ".pilot" / "ports.json"
    return dict(json.loads(path.read_text())) if path.exists() else {}


def env_of(tmp_path: Path, name: str) -> dict[str, str]:
    return dict(json.loads((tmp_path / f"{name}.env").read_text()))


def passing(consul: str, service: str) -> list[dict[str, Any]]:
    answer = requests.get(f"http://{consul}/v1/health/service/{service}?passing", timeout=scaled(5))
    return list(answer.json())


def all_passing(tmp_path: Path, *names: str) -> bool:
    kept = ports(tmp_path)
    try:
        return "@consul" in kept and all(
            passing(f"127.0.0.1:{kept['@consul']}", name) for name in names
        )
    except requests.ConnectionError:  # the registry is not serving yet
        return False


def pids(p: Pilot) -> dict[str, int]:
    return {job["name"]: job["pid"] for job in p.status()["jobs"]}


def test_up_runs_the_stack_on_the_embedded_registry(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    """Without `consul`, pilot up starts the embedded registry, registers every service there
    (passing through a default TCP check), a second pilot up of the same file is refused, and
    Ctrl-C stops the stack with exit code 0."""
    p = up(pilot, {**stack(tmp_path, "api", "web"), "control": {}})
    wait_for(lambda: all_passing(tmp_path, "api", "web"), 15, message="both passing")
    kept = ports(tmp_path)
    consul = f"127.0.0.1:{kept['@consul']}"
    [entry] = passing(consul, "api")
    assert (entry["Service"]["Address"], entry["Service"]["Port"]) == ("127.0.0.1", kept["api"])
    second = up(pilot, {**stack(tmp_path, "api", "web"), "control": {}})
    assert second.wait(15) == 2 and "already running" in second.output
    p.signal(signal.SIGINT)
    assert p.wait(15) == 0
    assert "api exited" in p.output and "web exited" in p.output


def test_auto_ports_are_kept_across_restarts(pilot: Callable[..., Pilot], tmp_path: Path) -> None:
    """A `port: "auto"` is picked once and reused by `pilot ctl restart` and by the next
    `pilot up`; the other service is not touched by the restart."""
    config = stack(tmp_path, "api", "web")
    p = up(pilot, config)
    wait_for(lambda: all_passing(tmp_path, "api", "web"), 15, message="both passing")
    first = ports(tmp_path)
    before = pids(p)
    assert p.ctl("restart", "api").returncode == 0
    wait_for(lambda: pids(p)["api"] not in (None, before["api"]), 10, message="api restarted")
    wait_for(lambda: all_passing(tmp_path, "api"), 10, message="api passing again")
    assert pids(p)["web"] == before["web"]
    assert requests.get(f"http://127.0.0.1:{first['api']}/", timeout=scaled(5)).text == "api"
    p.signal(signal.SIGTERM)
    assert p.wait(15) == 0
    again = up(pilot, config)
    wait_for(lambda: all_passing(tmp_path, "api", "web"), 15, message="both passing again")
    assert ports(tmp_path) == first
    assert env_of(tmp_path, "api")["PORT"] == str(first["api"])
    again.signal(signal.SIGTERM)
    again.wait(15)


def test_a_kept_port_taken_by_another_process_names_it(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    """When the port kept for a service is taken, pilot up exits 2 naming the holder's pid."""
    (tmp_path / ".pilot").mkdir()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        (tmp_path / ".pilot" / "ports.json").write_text(json.dumps({"api": port}))
        p = up(pilot, stack(tmp_path, "api"))
        assert p.wait(15) == 2
    assert f"port {port}" in p.output and f"process {os.getpid()}" in p.output


def test_every_job_is_told_where_the_services_are(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    """Each job gets <NAME>_ADDR and <NAME>_URL of every service, CONSUL_HTTP_ADDR and
    CONSUL_DNS_ADDR, and the registry's HTTP and DNS answers and templates agree with them."""
    config = stack(tmp_path, "api", "store")
    config["jobs"].append(
        {
            "name": "printer",
            "exec": python_job("""
            import json, os
            json.dump(dict(os.environ), open("printer.tmp", "w"))
            os.rename("printer.tmp", "printer.env")
            import time; time.sleep(600)
        """),
        }
    )
    config["jobs"][1]["service"] = "store-db"
    config["templates"] = [
        {
            "name": "addresses",
            "contents": "{% for i in service('store-db') %}{{i.address}}:{{i.port}}{% endfor %}",
            "dest": str(tmp_path / "addresses.txt"),
        }
    ]
    p = up(pilot, config)
    wait_for(lambda: all_passing(tmp_path, "api", "store-db"), 15, message="both passing")
    wait_for(lambda: (tmp_path / "printer.env").exists(), 10, message="printer's environment")
    env, kept = env_of(tmp_path, "printer"), ports(tmp_path)
    assert env["API_ADDR"] == f"127.0.0.1:{kept['api']}"
    assert env["API_URL"] == f"http://127.0.0.1:{kept['api']}"
    assert env["STORE_DB_ADDR"] == f"127.0.0.1:{kept['store']}"
    assert env["CONSUL_HTTP_ADDR"] == f"127.0.0.1:{kept['@consul']}"
    assert env["CONSUL_DNS_ADDR"] == f"127.0.0.1:{kept['@dns']}"
    assert requests.get(env["API_URL"], timeout=scaled(5)).text == "api"
    [entry] = passing(env["CONSUL_HTTP_ADDR"], "store-db")
    assert f"{entry['Service']['Address']}:{entry['Service']['Port']}" == env["STORE_DB_ADDR"]
    query = dns.message.make_query("store-db.service.consul", dns.rdatatype.SRV)
    answer = dns.query.udp(query, "127.0.0.1", timeout=scaled(5), port=kept["@dns"])
    [srv] = [record for rrset in answer.answer for record in rrset]
    assert srv.port == kept["store"]
    template = tmp_path / "addresses.txt"
    wait_for(lambda: template.exists() and template.read_text(), 10, message="template")
    assert template.read_text() == env["STORE_DB_ADDR"]
    assert "store listening" in p.output


def test_reload_keeps_the_ports_and_the_untouched_jobs(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    """`pilot ctl reload` of a stack reads the file as pilot up does: a new service gets a new
    kept port, the others keep theirs and their pids."""
    config = stack(tmp_path, "api")
    p = up(pilot, config)
    wait_for(lambda: all_passing(tmp_path, "api"), 15, message="api passing")
    before, first = pids(p), ports(tmp_path)
    config["jobs"].append({"name": "web", "exec": [*SERVICE, "web"], "port": "auto"})
    p.config_path.write_text(json.dumps(config))
    result = p.ctl("reload")
    assert result.returncode == 0, result.stderr
    wait_for(lambda: all_passing(tmp_path, "api", "web"), 15, message="web passing")
    assert pids(p)["api"] == before["api"]
    assert ports(tmp_path)["api"] == first["api"] and "web" in ports(tmp_path)
