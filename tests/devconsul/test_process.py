"""consul-dev as a process of its own (`pilot consul-dev` and `python -m pilot.devconsul`),
and the `running()` context manager."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from pilot.devconsul import running
from tests.helpers import scaled, wait_for

REPO = Path(__file__).resolve().parents[2]


# The two ways to run the registry: the `pilot` command's sub-command, and the package.
ENTRY_POINTS = pytest.mark.parametrize(
    "entry",
    [("-m", "pilot", "consul-dev"), ("-m", "pilot.devconsul")],
    ids=["pilot consul-dev", "python -m pilot.devconsul"],
)


def _start(
    entry: tuple[str, ...], *args: str, stderr: int = subprocess.PIPE
) -> subprocess.Popen[str]:
    """The registry as a process; DNS off unless `args` say (its default port may be taken)."""
    dns = () if "--dns" in args else ("--dns", "off")
    return subprocess.Popen(
        [sys.executable, *entry, *args, *dns],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


@ENTRY_POINTS
def test_cli_prints_its_address_first_and_exits_0_on_sigterm(entry: tuple[str, ...]) -> None:
    """`pilot consul-dev --listen 127.0.0.1:0` (or `python -m pilot.devconsul ...`) prints
    HOST:PORT as its first line, serves, logs requests at debug level, and exits 0 on
    SIGTERM."""
    proc = _start(entry, "--listen", "127.0.0.1:0", "--node", "cli-node", "--log-level", "debug")
    try:
        assert proc.stdout is not None and proc.stderr is not None
        address = proc.stdout.readline().strip()
        host, port = address.split(":")
        assert host == "127.0.0.1" and int(port) > 0
        url = f"http://{address}"
        assert requests.get(url + "/v1/status/leader", timeout=scaled(5)).json() == "127.0.0.1:8300"
        me = requests.get(url + "/v1/agent/self", timeout=scaled(5)).json()
        assert me["Config"]["NodeName"] == "cli-node"
        debug = me["DebugConfig"]
        assert (debug["CheckDeregisterIntervalMin"], debug["CheckReapInterval"]) == (
            "1m0s",
            "30s",
        ), "the fast reaper is off by default"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(scaled(10)) == 0
        assert "GET /v1/status/leader -> 200" in proc.stderr.read()
    finally:
        proc.kill()
        proc.wait()


def test_cli_dev_fast_reaper_shortens_the_reaper() -> None:
    """`--dev-fast-reaper` lowers the deregistration minimum to 1 s and the reap period to
    500 ms, as /v1/agent/self reports."""
    proc = _start(("-m", "pilot", "consul-dev"), "--listen", "127.0.0.1:0", "--dev-fast-reaper")
    try:
        assert proc.stdout is not None
        address = proc.stdout.readline().strip()
        debug = requests.get(f"http://{address}/v1/agent/self", timeout=scaled(5)).json()[
            "DebugConfig"
        ]
        assert (debug["CheckDeregisterIntervalMin"], debug["CheckReapInterval"]) == ("1s", "500ms")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(scaled(10)) == 0
    finally:
        proc.kill()
        proc.wait()


@ENTRY_POINTS
def test_cli_refuses_an_address_it_cannot_use(entry: tuple[str, ...]) -> None:
    """A listen address that is not HOST:PORT is an error naming it, exit status 1."""
    proc = _start(entry, "--listen", "nowhere")
    _, err = proc.communicate(timeout=scaled(10))
    assert proc.returncode == 1 and "cannot listen on nowhere" in err


def test_running_yields_a_served_address_and_stops_after() -> None:
    """`running()` serves on a free port for the length of the block only."""
    with running(node="ctx") as address:
        url = f"http://{address}/v1/agent/self"
        assert requests.get(url, timeout=scaled(5)).json()["Config"]["NodeName"] == "ctx"
    try:
        requests.get(url, timeout=scaled(1))
    except requests.ConnectionError:
        return
    raise AssertionError("still serving after the block")


def test_cli_serves_dns_where_told() -> None:
    """`--dns 127.0.0.1:0` serves the DNS interface on a free port, logged at start-up, and
    `--datacenter` names the datacenter it answers for."""
    import dns.message
    import dns.query

    proc = _start(
        ("-m", "pilot", "consul-dev"),
        "--listen",
        "127.0.0.1:0",
        "--dns",
        "127.0.0.1:0",
        "--datacenter",
        "east",
        "--node",
        "n1",
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        address = proc.stdout.readline().strip()
        line = proc.stderr.readline()
        assert "DNS on 127.0.0.1:" in line
        port = int(line.rsplit(":", 1)[1].split()[0])
        query = dns.message.make_query("n1.node.east.consul", "A")
        answer = dns.query.udp(query, "127.0.0.1", port=port, timeout=scaled(5))
        assert [str(r) for r in answer.answer[0]] == ["127.0.0.1"]
        me = requests.get(f"http://{address}/v1/agent/self", timeout=scaled(5)).json()
        assert me["Config"]["Datacenter"] == "east"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(scaled(10)) == 0
    finally:
        proc.kill()
        proc.wait()


def test_cli_leaves_on_agent_leave() -> None:
    """PUT /v1/agent/leave answers 200, then `pilot consul-dev` exits 0, as an agent leaves."""
    proc = _start(("-m", "pilot", "consul-dev"), "--listen", "127.0.0.1:0")
    try:
        assert proc.stdout is not None
        url = "http://" + proc.stdout.readline().strip()
        assert requests.put(url + "/v1/agent/leave", timeout=scaled(5)).status_code == 200
        assert proc.wait(scaled(10)) == 0
    finally:
        proc.kill()
        proc.wait()


def _other_threads(pid: int) -> list[int]:
    """The ids of a process's threads but its main one."""
    return sorted(int(tid) for tid in os.listdir(f"/proc/{pid}/task") if int(tid) != pid)


def test_cli_exits_on_sigterm_whichever_of_its_threads_takes_it() -> None:
    """A process-directed SIGTERM may be handed to any of the process's threads (seen on CI: a
    registry that never exited in the 50 s its test gave it). Given to one of its serving
    threads (kill(2) with a thread's id offers it that thread first), the registry exits 0
    within 2 s; on the old code the main thread slept on in `Event.wait()`, its handler
    never run."""
    proc = _start(("-m", "pilot", "consul-dev"), "--listen", "127.0.0.1:0")
    try:
        assert proc.stdout is not None
        proc.stdout.readline()
        os.kill(_other_threads(proc.pid)[0], signal.SIGTERM)
        assert proc.wait(scaled(2)) == 0
    finally:
        proc.kill()
        proc.wait()


class _Clients:
    """Clients of one registry process, misbehaving; `close()` ends them and what they
    started."""

    def __init__(self, proc: subprocess.Popen[str], address: str) -> None:
        self.proc, self.address = proc, address
        host, port = address.split(":")
        self.host, self.port = host, int(port)
        self.sockets: list[socket.socket] = []
        self.listener = socket.create_server(("127.0.0.1", 0))  # accepts, never answers
        self.scripts: list[int] = []

    def send(self, request: bytes, receive_buffer: int = 0) -> socket.socket:
        connection = socket.socket()
        if receive_buffer:  # before connect: it bounds the window offered
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        connection.connect((self.host, self.port))
        connection.sendall(request)
        self.sockets.append(connection)
        return connection

    def register_check(self, check: dict[str, object]) -> None:
        url = f"http://{self.address}/v1/agent/check/register"
        requests.put(url, json=check, timeout=scaled(5)).raise_for_status()

    def children(self) -> list[int]:
        """The registry's child processes (its running script checks)."""
        pids = []
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            with contextlib.suppress(FileNotFoundError):  # a thread that has just ended
                pids += [int(pid) for pid in (task / "children").read_text().split()]
        return pids

    def close(self) -> None:
        for connection in [*self.sockets, self.listener]:
            connection.close()
        for pid in self.scripts:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _blocked_query_and_idle_connection(clients: _Clients) -> None:
    clients.send(b"GET /v1/catalog/services?index=1000&wait=10m HTTP/1.1\r\nHost: x\r\n\r\n")
    clients.send(b"")  # connected, never a request


def _monitor_never_read(clients: _Clients) -> None:
    """A log stream whose client stops reading after the headers, its queue then filled."""
    stream = clients.send(b"GET /v1/agent/monitor?loglevel=debug HTTP/1.1\r\nHost: x\r\n\r\n", 1024)
    head = b""
    while b"\r\n\r\n" not in head:
        head += stream.recv(1024)
    request = b"GET /v1/status/leader?pad=%s HTTP/1.1\r\nHost: x\r\n\r\n" % (b"x" * 4000)
    with socket.create_connection((clients.host, clients.port)) as connection:
        for _ in range(2000):  # 8 MB of log lines: more than its queue and the socket buffers hold
            connection.sendall(request)
            connection.recv(4096)


def _http_check_never_answered(clients: _Clients) -> None:
    url = f"http://127.0.0.1:{clients.listener.getsockname()[1]}/"
    clients.register_check({"Name": "hangs", "HTTP": url, "Interval": "1s", "Timeout": "60s"})
    clients.listener.settimeout(scaled(5))
    probe, _ = clients.listener.accept()  # the probe waits for an answer
    clients.sockets.append(probe)


def _script_check_running(clients: _Clients) -> None:
    check = {"Name": "sleeps", "Args": ["sleep", "60"], "Interval": "1s", "Timeout": "60s"}
    clients.register_check(check)
    clients.scripts = wait_for(clients.children, 5, message="the script check running")


@pytest.mark.parametrize(
    "misbehave",
    [
        _blocked_query_and_idle_connection,
        _monitor_never_read,
        _http_check_never_answered,
        _script_check_running,
    ],
    ids=["blocked query, idle connection", "monitor never read", "HTTP check", "script check"],
)
def test_cli_exits_within_2_s_of_sigterm_whatever_its_clients_do(
    misbehave: Callable[[_Clients], None],
) -> None:
    """SIGTERM stops the registry within 2 s while a query blocks, a connection idles, a
    log stream is not read or a check is still running (on the old code the last three held
    it: `close()` of the streams waited for room in a full queue, and the interpreter's exit
    joined the checks' ThreadPoolExecutor workers until the probe's 60 s timeout)."""
    proc = _start(
        ("-m", "pilot", "consul-dev"),
        "--listen",
        "127.0.0.1:0",
        "--log-level",
        "debug",
        "--enable-script-checks",
        stderr=subprocess.DEVNULL,  # the debug lines are for the log stream
    )
    clients: _Clients | None = None
    try:
        assert proc.stdout is not None
        clients = _Clients(proc, proc.stdout.readline().strip())
        misbehave(clients)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(scaled(2)) == 0
    finally:
        proc.kill()
        proc.wait()
        if clients is not None:
            clients.close()
