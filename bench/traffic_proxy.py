"""Traffic monitor: what the recording proxy (pilot/traffic/proxy.py) adds in front of a service.

The service is nginx answering every GET with a fixed 1 KiB body (a Python asyncio server with
--upstream python, or when nginx or root is missing). The proxy runs as `pilot up` runs it: a
process of its own (one event loop), a TrafficStore, `identify` asking /proc in a thread for
each new connection. Targets: the service directly, a bare asyncio byte relay (the floor of
any Python proxy: nothing parsed, nothing recorded), and the proxy.

(a) Latency: sequential GETs over one keep-alive connection (a raw socket, TCP_NODELAY), in
alternating blocks of 200: p50/p99 and each p50 over direct; and the p50 of GETs each on a new
connection, connect to answer (the proxy's first answer on a connection waits for `identify`).
(b) Throughput: `wrk -t2 -c16 -d5s` against each, in a fresh random order each round, median of
--runs; the proxy's CPU time per request. (c) Memory: a TrafficStore holding exchanges as the
proxy records them (a browser-like request's 10 headers, 6 response headers), traced with
tracemalloc, for the MEMORY_CASES body sizes; and the RSS growth of a proxy process (keep
10,000) over 10,000 proxied GETs of 1 KiB.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import socket
import subprocess
import time
import tracemalloc
from pathlib import Path

from bench import common, configs

BODY = b"x" * 1024
REQUEST = b"GET /api/items?page=1 HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\n\r\n"
BLOCK = 200  # requests per alternating latency block
# (exchanges, request body bytes, response body bytes) kept in a store: typical GETs and POSTs,
# and the worst case of the defaults (a service's 1000 exchanges, both bodies at the limit)
MEMORY_CASES = [(10_000, 0, 1024), (10_000, 1024, 1024), (1000, 64 << 10, 64 << 10)]

PROXY = """
import asyncio, sys
from pilot.log import Log
from pilot.traffic.peers import socket_owner
from pilot.traffic.proxy import RecordingProxy
from pilot.traffic.store import TrafficStore

async def identify(client, server):
    pid = await asyncio.to_thread(socket_owner, client, server)
    return None if pid is None else str(pid)

async def main():
    upstream, keep = int(sys.argv[1]), int(sys.argv[2])
    proxy = RecordingProxy("bench", ("127.0.0.1", 0), ("127.0.0.1", upstream),
                           TrafficStore(keep), Log("warn"), identify=identify)
    await proxy.start()
    print(proxy.address[1], flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""

# The floor of any proxy in Python: asyncio streams passing bytes both ways, nothing parsed.
RELAY = """
import asyncio, sys

async def pipe(reader, writer):
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()

async def relay(reader, writer):
    upstream = await asyncio.open_connection("127.0.0.1", int(sys.argv[1]))
    await asyncio.gather(pipe(reader, upstream[1]), pipe(upstream[0], writer))

async def main():
    server = await asyncio.start_server(relay, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()

asyncio.run(main())
"""

PYTHON_UPSTREAM = """
import asyncio, sys
ANSWER = (b"HTTP/1.1 200 OK\\r\\nContent-Type: text/plain\\r\\nContent-Length: 1024\\r\\n\\r\\n"
          + b"x" * 1024)

class Server(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.buffer = transport, b""
    def data_received(self, data):
        self.buffer += data
        while b"\\r\\n\\r\\n" in self.buffer:
            _, _, self.buffer = self.buffer.partition(b"\\r\\n\\r\\n")
            self.transport.write(ANSWER)

async def main():
    server = await asyncio.get_running_loop().create_server(Server, "127.0.0.1", int(sys.argv[1]))
    await server.serve_forever()

asyncio.run(main())
"""


def nginx_argv(directory: Path, port: int) -> list[str]:
    prefix = directory / "nginx"
    (prefix / "tmp").mkdir(parents=True)
    conf = prefix / "nginx.conf"
    conf.write_text(f"""user root;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp/client_body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{port};
        location / {{ default_type text/plain; return 200 "{BODY.decode()}"; }}
    }}
}}
""")
    return ["nginx", "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"]


def start_proxy(
    upstream: int, keep: int, script: str = PROXY
) -> tuple[subprocess.Popen[bytes], int]:
    """A proxy (or `script`, given the same arguments) in front of `upstream`, and its port."""
    proc = common.spawn(
        [common.PYTHON, "-c", script, str(upstream), str(keep)],
        cwd=common.REPO,
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().decode().strip()
    assert line.isdigit(), f"the proxy did not start: {line!r}"
    return proc, int(line)


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(REQUEST)
            return sock.recv(12).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


class Client:
    """One keep-alive connection sending REQUEST and reading each answer whole."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def get(self) -> float:
        began = time.perf_counter()
        self.sock.sendall(REQUEST)
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self.sock.recv(65536)
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        match = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
        assert match and head.startswith(b"HTTP/1.1 200"), head
        length = int(match[1])
        while len(self.buffer) < length:
            self.buffer += self.sock.recv(65536)
        self.buffer = self.buffer[length:]
        return time.perf_counter() - began

    def close(self) -> None:
        self.sock.close()


def latency(ports: dict[str, int], requests: int) -> dict[str, list[float]]:
    clients = {name: Client(port) for name, port in ports.items()}
    for client in clients.values():
        for _ in range(BLOCK):  # warm up
            client.get()
    results: dict[str, list[float]] = {name: [] for name in ports}
    for _ in range(requests // BLOCK):
        order = list(clients)
        random.shuffle(order)
        for name in order:
            results[name] += [clients[name].get() for _ in range(BLOCK)]
    for client in clients.values():
        client.close()
    return results


def fresh_connections(ports: dict[str, int], requests: int) -> dict[str, list[float]]:
    """Seconds from connect to the whole answer, a new connection for each GET (the targets
    in a fresh random order each round)."""

    def once(name: str) -> float:
        began = time.perf_counter()
        client = Client(ports[name])
        client.get()
        client.close()
        return time.perf_counter() - began

    return common.alternate(list(ports), requests, once)


def wrk(port: int, seconds: int) -> float:
    """Requests per second `wrk -t2 -c16` measured against `port`."""
    out = subprocess.run(
        ["wrk", "-t2", "-c16", f"-d{seconds}s", f"http://127.0.0.1:{port}/"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert match, out
    return float(match[1])


def h11_cost(rounds: int = 20_000) -> float:
    """Seconds of h11 alone per proxied GET: the request parsed as a server and framed as a
    client, the response parsed as a client and framed as a server (no I/O, nothing kept)."""
    import h11

    response = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1024\r\n\r\n"
    server, client = h11.Connection(h11.SERVER), h11.Connection(h11.CLIENT)
    began = time.perf_counter()
    for _ in range(rounds):
        server.receive_data(REQUEST)
        request, end = server.next_event(), server.next_event()
        assert isinstance(request, h11.Request)
        client.send(
            h11.Request(method=request.method, target=request.target, headers=request.headers)
        )
        client.send(end)
        client.receive_data(response + BODY)
        events = [client.next_event() for _ in range(3)]
        for event in events:
            server.send(event)
        server.start_next_cycle()
        client.start_next_cycle()
    return (time.perf_counter() - began) / rounds


def store_memory(count: int, request_body: int, response_body: int) -> int:
    """Bytes traced for a TrafficStore holding `count` exchanges with bodies of these sizes."""
    from pilot.traffic.relay import decode_headers
    from pilot.traffic.store import Body, Exchange, TrafficStore, mask_headers

    request_head = _pairs(
        b"Host: localhost:8080\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Firefox/128"
        b"\nAccept: application/json, text/plain, */*\nAccept-Language: en-GB,en;q=0.5\n"
        b"Accept-Encoding: gzip, deflate, br\nReferer: http://localhost:8080/\n"
        b"Connection: keep-alive\nCookie: session=0123456789abcdef\nSec-Fetch-Mode: cors\n"
        b"Priority: u=0"
    )
    response_head = _pairs(
        b"Server: uvicorn\nDate: Wed, 02 Dec 2026 16:00:00 GMT\nContent-Type: application/json"
        b"\nContent-Length: 1024\nCache-Control: no-store\nX-Request-Id: 0f1e2d3c4b5a69788796"
    )
    request_bytes, response_bytes = os.urandom(request_body), os.urandom(response_body)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    store = TrafficStore(keep=count)
    for i in range(count):
        # as the proxy makes them: every string decoded afresh from the bytes read
        exchange = Exchange(
            service="api",
            started=time.time(),
            client=f"127.0.0.1:{40000 + i % 20000}",
            method=b"GET".decode("latin-1"),
            url=f"/api/items?page={i}",
            http_version=b"1.1".decode("latin-1"),
            request_headers=mask_headers(decode_headers(request_head), frozenset()),
            request_body=Body(64 << 10),
        )
        exchange.request_data(request_bytes)
        headers = mask_headers(decode_headers(response_head), frozenset())
        exchange.response_seen(200, b"OK".decode("latin-1"), headers, 64 << 10)
        exchange.response_data(response_bytes)
        exchange.finished(0.001, None)
        store.add(exchange)
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert len(store.select()) == count
    return used


def _pairs(block: bytes) -> list[tuple[bytes, bytes]]:
    return [(name, value) for name, value in (line.split(b": ", 1) for line in block.split(b"\n"))]


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(prog="python -m bench.traffic_proxy", description=__doc__)
    parser.add_argument("--requests", type=int, default=5000, help="latency GETs per target")
    parser.add_argument("--runs", type=int, default=3, help="wrk runs per target")
    parser.add_argument("--seconds", type=int, default=5, help="length of a wrk run")
    parser.add_argument("--upstream", choices=["nginx", "python"], default="nginx")
    args = parser.parse_args(argv)
    use_nginx = args.upstream == "nginx" and shutil.which("nginx") and os.geteuid() == 0
    if not shutil.which("wrk"):
        print("# skipping throughput: apt-get install -y wrk")
    data: dict[str, object] = {"upstream": "nginx" if use_nginx else "python"}
    with common.workdir("traffic") as directory:
        port = configs.free_port()
        service = common.spawn(
            nginx_argv(directory, port)
            if use_nginx
            else [common.PYTHON, "-c", PYTHON_UPSTREAM, str(port)]
        )
        procs = [service]
        try:
            assert common.wait_for(lambda: answers(port), 20, 0.01), "the service did not start"
            proxy, proxy_port = start_proxy(port, 1000)
            relay, relay_port = start_proxy(port, 0, RELAY)
            procs += [proxy, relay]
            ports = {"direct": port, "asyncio relay": relay_port, "proxied": proxy_port}
            timings = latency(ports, args.requests)
            per_connection = fresh_connections(ports, args.requests // 10)
            rates: dict[str, list[float]] = {name: [] for name in ports}
            cpu_per_request: list[float] = []
            if shutil.which("wrk"):
                for _ in range(args.runs):
                    for name in random.sample(list(ports), len(ports)):
                        cpu = common.cpu_seconds(proxy.pid)
                        began = time.monotonic()
                        rates[name].append(wrk(ports[name], args.seconds))
                        if name == "proxied":
                            served = rates[name][-1] * (time.monotonic() - began)
                            cpu_per_request.append((common.cpu_seconds(proxy.pid) - cpu) / served)
            fresh, fresh_port = start_proxy(port, 10_000)
            procs.append(fresh)
            client = Client(fresh_port)
            client.get()
            rss_before = common.rss_kib(fresh.pid)
            for _ in range(10_000):
                client.get()
            rss_growth = common.rss_kib(fresh.pid) - rss_before
            client.close()
        finally:
            for proc in procs:
                common.stop(proc, 5)
    memory = [
        (count, request, response, store_memory(count, request, response))
        for count, request, response in MEMORY_CASES
    ]
    h11_alone = h11_cost()
    data.update(
        latency=timings,
        fresh_connections=per_connection,
        wrk=rates,
        cpu_per_request=cpu_per_request,
        h11_per_request=h11_alone,
        memory=memory,
    )

    def row(name: str) -> list[object]:
        values = timings[name]
        base = common.median(timings["direct"])
        rate = common.median(rates[name]) if rates[name] else float("nan")
        return [
            name,
            len(values),
            f"{common.median(values) * 1e6:.0f}",
            f"{common.percentile(values, 99) * 1e6:.0f}",
            f"{(common.median(values) - base) * 1e6:.0f}",
            f"{common.median(per_connection[name]) * 1e6:.0f}",
            f"{rate:.0f}",
        ]

    text = common.table(
        [
            "target",
            "GETs",
            "p50 µs",
            "p99 µs",
            "p50 over direct µs",
            "new connection each: p50 µs",
            "wrk -t2 -c16 req/s",
        ],
        [row(name) for name in timings],
    )
    text += (
        f"\n\nProxy CPU per request under wrk: {common.median(cpu_per_request) * 1e6:.0f} µs "
        f"(h11 alone, both sides: {h11_alone * 1e6:.0f} µs). "
        f"Proxy RSS growth over 10,000 recorded GETs of 1 KiB: {rss_growth / 1024:.1f} MiB.\n\n"
    )
    text += common.table(
        ["exchanges", "request body", "response body", "traced MiB", "per exchange KiB"],
        [
            [f"{count:,}", request, response, f"{used / 2**20:.1f}", f"{used / count / 1024:.2f}"]
            for count, request, response, used in memory
        ],
    )
    common.emit("traffic_proxy", "## Traffic monitor\n\n" + text, data)
    return data


if __name__ == "__main__":
    main()
