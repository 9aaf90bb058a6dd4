"""Figure 8, render scale and registry fan-out.

Render: pilot's template language (sandboxed Jinja2 with its lookups, in process) over one
service of N instances, with the shipped `pilot:nginx/upstreams.conf.j2`: the median time of a
render (template compiled once, as the renderer keeps it) and the output size.

Fan-out: W clients wait in blocking queries on one service in `pilot consul-dev` (kept-alive
connections); one check turns passing: time until the
first and the last client has its answer.
"""

from __future__ import annotations

import argparse
import http.client
import threading
import time
from pathlib import Path

from bench import common

SIZES = (10, 100, 1000, 5000)
FANOUT = (10, 100, 500)


def render_scale(sizes: tuple[int, ...], repeat: int) -> list[list[object]]:
    from pilot.consul.watch import Instance, Query
    from pilot.render.language import MISSING, Lookups, make_environment
    from pilot.templates import shipped_template

    source = Path(shipped_template("nginx/upstreams.conf.j2")).read_text()
    query = Query("service", "app", (), None, True)
    rows: list[list[object]] = []
    for n in sizes:
        instances = tuple(
            Instance(
                f"app-{i}",
                "app",
                f"10.{i // 65536}.{i // 256 % 256}.{i % 256}",
                8080,
                ("v1",),
                (),
                f"node{i % 50}",
                "passing",
            )
            for i in range(n)
        )
        data = {query: instances}
        catalog = Query("catalog", "", (), None, True)
        data[catalog] = (("app", ("v1",)),)
        template = make_environment().from_string(source)
        times, out = [], ""
        for _ in range(repeat):
            started = time.perf_counter()
            lookups = Lookups(lambda q, d=data: d.get(q, MISSING), {"PILOT_UPSTREAMS": "app"}, ".")
            out = template.render(**lookups.functions())
            times.append(time.perf_counter() - started)
        rows.append([n, common.ms(common.median(times)), f"{len(out.encode()) / 1024:.1f}"])
    return rows


def fanout(watchers: int) -> tuple[float, float]:
    """(first, last) answer after the change, in seconds."""
    with common.registry() as registry:
        registry.register("fan", "f1", 80, ttl=True)
        host, port = registry.address.split(":")
        got: list[float] = []
        lock = threading.Lock()
        ready = threading.Barrier(watchers + 1)

        def watch() -> None:
            conn = http.client.HTTPConnection(host, int(port), timeout=60)
            conn.request("GET", "/v1/health/service/fan?passing=1")
            response = conn.getresponse()
            response.read()
            index = response.headers["X-Consul-Index"]
            ready.wait()
            conn.request("GET", f"/v1/health/service/fan?passing=1&index={index}&wait=60s")
            conn.getresponse().read()
            with lock:
                got.append(time.monotonic())
            conn.close()

        threads = [threading.Thread(target=watch, daemon=True) for _ in range(watchers)]
        for thread in threads:
            thread.start()
        ready.wait()
        time.sleep(1 + watchers / 200)  # every blocking query has reached the registry
        sent = time.monotonic()
        registry.request("PUT", "/v1/agent/check/pass/f1-ttl")
        for thread in threads:
            thread.join(30)
        return min(got) - sent, max(got) - sent


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(prog="python -m bench.render_scale", description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--watchers", type=int, nargs="+", default=list(FANOUT))
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3, help="fan-out runs per size")
    args = parser.parse_args(argv)
    rows = render_scale(tuple(args.sizes), args.repeat)
    text = common.table(["instances", "render median ms", "output KiB"], rows)
    fan_rows = []
    fan: dict[int, list[tuple[float, float]]] = {}
    for w in args.watchers:
        fan[w] = [fanout(w) for _ in range(args.runs)]
        fan_rows.append(
            [
                w,
                common.ms(common.median([f for f, _ in fan[w]])),
                common.ms(common.median([last for _, last in fan[w]])),
            ]
        )
    text += "\n\n" + common.table(
        ["watchers", "first answer median ms", "last answer median ms"], fan_rows
    )
    data = {"render": rows, "fanout": fan}
    common.emit("render_scale", "## 8. render scale and fan-out\n\n" + text, data)
    return data


if __name__ == "__main__":
    main()
