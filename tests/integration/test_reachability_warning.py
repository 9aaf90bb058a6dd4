"""A job checked on loopback but advertised on another address: pilot says so when the
advertised address does not answer (the app listens on loopback only)."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import Pilot, holds, python_job, require

# A network namespace of the test's own, where 10.200.0.1 is an address of this host (on lo,
# though not a loopback address): nothing leaves the machine.
NETNS = [
    "unshare",
    "--net",
    "sh",
    "-c",
    'ip link set lo up && ip addr add 10.200.0.1/32 dev lo && exec "$0" "$@"',
]
WARNING = "does not accept connections"


def server(bind: str, port: int) -> list[str]:
    return python_job(f"""
        import http.server
        class Ok(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200); self.end_headers()
            def log_message(self, *args):
                pass
        http.server.HTTPServer(("{bind}", {port}), Ok).serve_forever()
    """)


def config(bind: str, port: int) -> dict[str, object]:
    return {
        "consul": "embedded",
        "jobs": [
            {
                "name": "web",
                "main": True,
                "exec": server(bind, port),
                "port": port,
                "interfaces": ["static:10.200.0.1"],
                "health": {"http": f"http://127.0.0.1:{port}/", "interval": "200ms"},
            }
        ],
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(autouse=True)
def _network_namespaces() -> None:
    require(
        shutil.which("unshare") is not None and shutil.which("ip") is not None,
        "needs unshare and ip (util-linux, iproute2) for a network namespace",
    )


def test_loopback_only_app_advertised_elsewhere_is_warned_about(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    """The app binds 127.0.0.1, its check passes there, its advertised 10.200.0.1 refuses:
    one warning names both."""
    port = free_port()
    p = pilot(config("127.0.0.1", port), wrap=NETNS)
    line = p.wait_for_output(f".*{WARNING}.*", 15).group(0)
    assert f"127.0.0.1:{port}" in line and f"10.200.0.1:{port}" in line


def test_an_app_listening_everywhere_is_not_warned_about(
    pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    """The app binds 0.0.0.0: its advertised address answers, and nothing is said."""
    port = free_port()
    p = pilot(config("0.0.0.0", port), wrap=NETNS)
    p.wait_for_output(r"web is healthy", 15)
    holds(lambda: WARNING not in p.output, 3, message=f"no warning\n{p.output}")
