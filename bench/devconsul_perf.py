"""consul-dev's own figures, against `pilot consul-dev` as a process (DNS on a free port):

- fan-out: W watchers in blocking health queries on one service (one selector-driven client
  thread, so the client adds no GIL contention), one TTL check turns passing: time from the
  PUT to the first and to the last answer;
- DNS: UDP queries per second (one client, a prebuilt `web.service.consul A` query, the
  service with 3 instances), and the same over one TCP connection;
- KV: writes per second, one keep-alive connection, and 4 connections at once;
- RSS: idle (fresh, with DNS and with `--dns off`: dnspython is imported only for DNS), and
  with 1000 services registered (each with a TTL check).
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import selectors
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench import common


class DevConsul:
    """`pilot consul-dev` with DNS on, on free loopback ports."""

    def __init__(self) -> None:
        argv = [*common.pilot_argv(), "consul-dev", "--listen", "127.0.0.1:0"]
        argv += ["--dns", "127.0.0.1:0", "--log-level", "info", "--node", "bench"]
        self.proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=common.ENV,
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.address = self.proc.stdout.readline().decode().strip()
        line = self.proc.stderr.readline().decode()
        found = re.search(r"DNS on ([\d.]+):(\d+)", line)
        assert found, line
        self.dns = (found.group(1), int(found.group(2)))
        host, port = self.address.rsplit(":", 1)
        self.http = http.client.HTTPConnection(host, int(port), timeout=30)

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        self.http.request(method, path, body=data)
        response = self.http.getresponse()
        raw = response.read()
        return json.loads(raw) if raw.strip() else None

    def rss_kib(self) -> int:
        return common.rss_kib(self.proc.pid)

    def close(self) -> None:
        self.http.close()
        common.stop(self.proc, 5)  # type: ignore[arg-type]


@contextmanager
def devconsul() -> Iterator[DevConsul]:
    registry = DevConsul()
    try:
        yield registry
    finally:
        registry.close()


def fan_out(registry: DevConsul, watchers: int) -> tuple[float, float]:
    """(first, last) answer after one change, seconds, for `watchers` blocked queries."""
    registry.call("PUT", "/v1/agent/check/fail/fan-ttl")
    index = int(_index(registry, "/v1/health/service/fan"))
    host, port = registry.address.rsplit(":", 1)
    selector = selectors.DefaultSelector()
    request = (
        f"GET /v1/health/service/fan?index={index}&wait=60s HTTP/1.1\r\nHost: x\r\n\r\n"
    ).encode()
    sockets = []
    for _ in range(watchers):
        sock = socket.create_connection((host, int(port)))
        sock.sendall(request)
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
        sockets.append(sock)
    common.wait_for(lambda: _blocked(registry) >= watchers, 60)
    arrivals: list[float] = []
    start = time.monotonic()
    registry.call("PUT", "/v1/agent/check/pass/fan-ttl")
    while len(arrivals) < watchers:
        for key, _ in selector.select(timeout=30):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            sock.recv(65536)
            arrivals.append(time.monotonic() - start)
            selector.unregister(sock)
    for sock in sockets:
        sock.close()
    return min(arrivals), max(arrivals)


def _index(registry: DevConsul, path: str) -> str:
    registry.http.request("GET", path)
    response = registry.http.getresponse()
    response.read()
    return response.headers["X-Consul-Index"]


def _blocked(registry: DevConsul) -> int:
    gauges = registry.call("GET", "/v1/agent/metrics")["Gauges"]
    return int(next(g["Value"] for g in gauges if g["Name"] == "consul.rpc.queries_blocking"))


def dns_qps(registry: DevConsul, seconds: float, tcp: bool) -> float:
    """Queries answered per second by one client."""
    import dns.message

    query = dns.message.make_query("web.service.consul", "A").to_wire()
    if tcp:
        sock = socket.create_connection(registry.dns)
        framed = struct.pack("!H", len(query)) + query
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.connect(registry.dns)
    count, deadline = 0, time.monotonic() + seconds
    start = time.monotonic()
    while time.monotonic() < deadline:
        if tcp:
            sock.sendall(framed)
            size = struct.unpack("!H", _exactly(sock, 2))[0]
            _exactly(sock, size)
        else:
            sock.send(query)
            sock.recv(4096)
        count += 1
    elapsed = time.monotonic() - start
    sock.close()
    return count / elapsed


def _exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        data += sock.recv(size - len(data))
    return data


def kv_writes(registry: DevConsul, seconds: float, clients: int) -> float:
    """KV PUTs per second, over `clients` keep-alive connections at once."""
    host, port = registry.address.rsplit(":", 1)
    counts = [0] * clients
    deadline = time.monotonic() + seconds

    def client(n: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        while time.monotonic() < deadline:
            conn.request("PUT", f"/v1/kv/bench/{n}/{counts[n] % 100}", body=b"x" * 64)
            conn.getresponse().read()
            counts[n] += 1
        conn.close()

    start = time.monotonic()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.monotonic() - start)


def rss_with_services(registry: DevConsul, services: int) -> int:
    """RSS (KiB) once `services` services with a TTL check each are registered."""
    for n in range(services):
        body = {"Name": f"svc{n % 100}", "ID": f"svc-{n}", "Port": n, "Check": {"TTL": "10m"}}
        registry.call("PUT", "/v1/agent/service/register", body)
    time.sleep(1)  # let the allocator settle before sampling
    return registry.rss_kib()


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(prog="python -m bench.devconsul_perf", description=__doc__)
    parser.add_argument("--watchers", type=int, nargs="+", default=[10, 100, 500])
    parser.add_argument("--runs", type=int, default=5, help="fan-out runs per watcher count")
    parser.add_argument("--seconds", type=float, default=5.0, help="per throughput figure")
    args = parser.parse_args(argv)
    data: dict[str, Any] = {"fan_out": {}}
    with common.registry() as plain:  # --dns off
        time.sleep(1)  # let start-up settle before sampling
        data["rss_idle_no_dns_kib"] = common.rss_kib(plain.proc.pid)
    with devconsul() as registry:
        time.sleep(1)
        data["rss_idle_kib"] = registry.rss_kib()
        body = {"Name": "fan", "ID": "fan1", "Port": 1}
        body["Check"] = {"CheckID": "fan-ttl", "TTL": "10m"}
        registry.call("PUT", "/v1/agent/service/register", body)
        for n in range(3):
            web = {"Name": "web", "ID": f"web{n}", "Address": f"127.0.0.{n + 2}", "Port": 80}
            registry.call("PUT", "/v1/agent/service/register", web)
        rows = []
        for watchers in args.watchers:
            runs = [fan_out(registry, watchers) for _ in range(args.runs)]
            data["fan_out"][watchers] = runs
            first = common.median([r[0] for r in runs])
            last = [r[1] for r in runs]
            rows.append(
                [
                    watchers,
                    args.runs,
                    common.ms(first),
                    common.ms(common.median(last)),
                    common.ms(max(last)),
                ]
            )
        data["dns_udp_qps"] = dns_qps(registry, args.seconds, tcp=False)
        data["dns_tcp_qps"] = dns_qps(registry, args.seconds, tcp=True)
        data["kv_writes_1"] = kv_writes(registry, args.seconds, 1)
        data["kv_writes_4"] = kv_writes(registry, args.seconds, 4)
        data["rss_1000_kib"] = rss_with_services(registry, 1000)
    fan = common.table(
        ["watchers", "runs", "first answer median ms", "last answer median ms", "last max ms"],
        rows,
    )
    figures = common.table(
        ["figure", "value"],
        [
            ["DNS, UDP, one client", f"{data['dns_udp_qps']:.0f} queries/s"],
            ["DNS, TCP, one connection", f"{data['dns_tcp_qps']:.0f} queries/s"],
            ["KV PUT, one connection", f"{data['kv_writes_1']:.0f} writes/s"],
            ["KV PUT, 4 connections", f"{data['kv_writes_4']:.0f} writes/s"],
            ["RSS idle", f"{data['rss_idle_kib'] / 1024:.1f} MiB"],
            ["RSS idle, --dns off", f"{data['rss_idle_no_dns_kib'] / 1024:.1f} MiB"],
            ["RSS, 1000 services with a TTL check", f"{data['rss_1000_kib'] / 1024:.1f} MiB"],
        ],
    )
    common.emit("devconsul_perf", "## consul-dev\n\n" + fan + "\n\n" + figures, data)
    return data


if __name__ == "__main__":
    main()
