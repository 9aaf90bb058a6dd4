"""Reading a config at the 1 MiB cap: `parse_config` (substitution, JSON5, validation) of each
shape that made the json5 library take 25-110 s, of the shapes with the most entries to
validate (or to report wrong), and of a syntax error at the end of one.
`--json5` also times the library itself on each (minutes).
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable

from bench import common
from pilot.config.errors import ConfigError
from pilot.config.load import MAX_SIZE, parse_config

JOB = '{name: "app", main: true, exec: ["true"]'


def _fill(make: Callable[[int], str]) -> str:
    """The largest text `make(n)` gives within MAX_SIZE (bytes)."""
    low, high = 0, MAX_SIZE
    while low < high:
        middle = (low + high + 1) // 2
        if len(make(middle).encode()) <= MAX_SIZE:
            low = middle
        else:
            high = middle - 1
    return make(low)


SHAPES: dict[str, Callable[[int], str]] = {
    "long comment": lambda n: "// " + "x" * n + "\n{jobs: [" + JOB + "}]}",
    "big env map": lambda n: (
        "{jobs: [" + JOB + ", env: {" + ", ".join(f'V{i}: "v{i}"' for i in range(n)) + "}}]}"
    ),
    "big env map of numbers": lambda n: (
        "{jobs: [" + JOB + ", env: {" + ", ".join(f"V{i}: {i}" for i in range(n)) + "}}]}"
    ),
    "big env map, every value wrong": lambda n: (
        "{jobs: [" + JOB + ", env: {" + ", ".join(f"V{i}: null" for i in range(n)) + "}}]}"
    ),
    "many jobs": lambda n: (
        "{jobs: ["
        + JOB
        + "}, "
        + ", ".join(f'{{name: "j{i}", exec: "x"}}' for i in range(n))
        + "]}"
    ),
    "long string": lambda n: (
        '{jobs: [{name: "app", main: true, exec: ["echo", "' + "y" * n + '"]}]}'
    ),
    "JSON5 mix": lambda n: (
        "{jobs: ["
        + JOB
        + ", env: {"
        + "".join(f"  // {i}\n  v{i}: 'it\\'s ${{HOME}}', /* x */\n" for i in range(n))
        + "}}]}"
    ),
    "error at the end": lambda n: "// " + "x" * n + "\n{jobs: [" + JOB + "}]",
}


def _time_parse(text: str) -> tuple[float, float]:
    """Wall and CPU seconds of one `parse_config` (the CPU time is the steadier on a busy
    machine)."""
    started, cpu = time.perf_counter(), time.process_time()
    with contextlib.suppress(ConfigError):
        parse_config(text, {"HOME": "/root"}, "big.json5")
    return time.perf_counter() - started, time.process_time() - cpu


def _load() -> str:
    """The 1-minute load average."""
    with open("/proc/loadavg") as file:
        return file.read().split()[0]


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(prog="python -m bench.config_size", description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json5", action="store_true", help="time the json5 library too")
    args = parser.parse_args(argv)
    rows, data = [], {}
    for name, make in SHAPES.items():
        text = _fill(make)
        load = _load()
        times, cpu = zip(*(_time_parse(text) for _ in range(args.runs)), strict=True)
        row: list[object] = [
            name,
            f"{len(text.encode()) / 1024:.0f} KiB",
            common.ms(common.median(times)),
            common.ms(common.median(cpu)),
            load,
        ]
        data[name] = {"bytes": len(text.encode()), "parse_s": times, "cpu_s": cpu, "load": load}
        if args.json5:
            import json5

            started = time.perf_counter()
            with contextlib.suppress(ValueError):
                json5.loads(text)
            data[name]["json5_s"] = time.perf_counter() - started
            row.append(f"{data[name]['json5_s']:.1f} s")
        rows.append(row)
    headers = [
        "shape",
        "size",
        "parse_config (median, ms)",
        "CPU (median, ms)",
        "load",
        *(["json5.loads"] if args.json5 else []),
    ]
    common.emit("config_size", common.table(headers, rows), data)
    return data


if __name__ == "__main__":
    main()
