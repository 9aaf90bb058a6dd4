"""The bundle next to the pip-installed pilot, measured side by side (BENCHMARKS.md, Bundle).

    python packaging/bench_bundle.py [--bundle DIR] [--runs 30]

Builds the bundle (packaging/build_bundle.py) unless given one, and installs this checkout
into a fresh venv with pip, as a Python image would. Then, with the methods of bench/ (figures
1 and 3): size on disk; start overhead, exec of the supervisor to the first statement of its job,
over direct exec (the peers interleaved); the CPU time of `pilot --help` (user + system, less
noisy than wall time on a loaded machine); RSS of the supervisor, 1 job and the full set-up.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import common, configs  # noqa: E402

# What `apt-get install python3` puts into a Debian 12 image (`dpkg-query` Installed-Size).
DEBIAN_PYTHON = [
    "python3",
    "python3-minimal",
    "python3.11",
    "python3.11-minimal",
    "libpython3-stdlib",
    "libpython3.11-minimal",
    "libpython3.11-stdlib",
]
# A venv's own tools, which `pip install pilot-supervisor` into an image does not add.
VENV_TOOLS = ("pip", "setuptools", "_distutils_hack", "distutils-precedence.pth")
STAMP = common.job("""
    import sys, time
    with open(sys.argv[1], "a") as f:
        f.write(f"{time.monotonic_ns()}\\n")
    time.sleep(3600)
""")
ENV = {k: v for k, v in common.ENV.items() if k != "PYTHONPYCACHEPREFIX"}


def disk_usage(path: Path) -> int:
    """Bytes allocated on disk under `path` (what `du` counts)."""
    files = [path] if path.is_file() else [p for p in path.rglob("*") if not p.is_symlink()]
    return sum(p.lstat().st_blocks * 512 for p in files)


def debian_python_bytes() -> int | None:
    query = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Installed-Size}\\n", *DEBIAN_PYTHON],
        capture_output=True,
        text=True,
    )
    return sum(int(kib) * 1024 for kib in query.stdout.split()) if query.returncode == 0 else None


def start(
    argv: Callable[[list[str]], list[str]], directory: Path, trial: list[int]
) -> float | None:
    """Seconds from spawning `argv(job)` to the job's first statement."""
    trial[0] += 1
    stamp = directory / f"{trial[0]}.stamp"
    command = argv([*STAMP, str(stamp)])
    started = time.monotonic()
    proc = common.spawn(command, cwd=directory, env=ENV)
    try:
        found = common.wait_for(lambda: common.stamps(stamp), 20)
    finally:
        common.stop(proc)
    return found[0] - started if found else None


def cpu(argv: list[str]) -> float:
    """User + system seconds of one run of `argv` (its children included)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, stdout=subprocess.DEVNULL, env=ENV, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def rss(argv: list[str], directory: Path, settle: float = 2.0) -> float:
    """Median RSS (MiB) of the process started by `argv`, sampled once it has settled."""
    proc = common.spawn(argv, cwd=directory, env=ENV)
    try:
        time.sleep(settle)
        if proc.poll() is not None:
            raise RuntimeError(f"{argv[0]} exited with {proc.returncode}")
        samples = []
        for _ in range(10):
            samples.append(common.rss_kib(proc.pid) / 1024)
            time.sleep(0.5)
        return common.median(samples)
    finally:
        common.stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--bundle", type=Path, help="a bundle already built (default: build one)")
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    with common.workdir("bundle") as directory:
        bundle = args.bundle
        if bundle is None:
            bundle = directory / "pilot"
            build = [sys.executable, str(ROOT / "packaging" / "build_bundle.py"), "--out"]
            subprocess.run([*build, str(bundle)], check=True)
        venv = directory / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(ROOT)]
        subprocess.run(pip, check=True)
        commands = {"pip": [str(venv / "bin" / "pilot")], "bundle": [str(bundle / "pilot")]}

        site = next((venv / "lib").glob("python3*/site-packages"))
        installed = sum(disk_usage(p) for p in site.iterdir() if not p.name.startswith(VENV_TOOLS))
        interpreter = debian_python_bytes()
        sizes = {
            "pip": f"{installed / 2**20:.1f} MiB + Python"
            + (f" ({interpreter / 2**20:.1f} MiB: Debian's python3)" if interpreter else ""),
            "bundle": f"{disk_usage(bundle) / 2**20:.1f} MiB, Python included",
        }

        def under(peer: str) -> Callable[[list[str]], list[str]]:
            """argv running a job under `peer` (direct: the job alone)."""

            def argv(job: list[str]) -> list[str]:
                if peer == "direct":
                    return job
                config = {"jobs": [{"name": "job", "exec": job}]}
                path = common.write_pilot_config(directory, config, peer)
                return [*commands[peer], "run", "-c", str(path)]

            return argv

        peers = ["direct", "pip", "bundle"]
        trial = [0]
        for peer in peers:  # warm the page cache (and the venv's .pyc) first
            start(under(peer), directory, trial)
        first = common.alternate(
            peers, args.runs, lambda peer: start(under(peer), directory, trial)
        )
        help_cpu = common.alternate(
            peers[1:], args.runs, lambda peer: cpu([*commands[peer], "--help"])
        )
        one_job = {peer: rss(under(peer)(configs.SLEEPER), directory) for peer in peers[1:]}
        with common.registry() as registry:
            full = {}
            for peer in peers[1:]:
                config = configs.full_pilot(directory, registry, jobs=10)
                path = common.write_pilot_config(directory, config, f"{peer}-full")
                full[peer] = rss([*commands[peer], "run", "-c", str(path)], directory, settle=4)
    base = common.median(first["direct"])
    rows = [
        [
            peer,
            sizes[peer],
            len(first[peer]),
            common.ms(common.median(first[peer])),
            common.ms(common.percentile(first[peer], 90)),
            common.ms(common.median(first[peer]) - base),
            common.ms(common.median(help_cpu[peer])),
            f"{one_job[peer]:.1f}",
            f"{full[peer]:.1f}",
        ]
        for peer in peers[1:]
    ]
    headers = [
        "pilot",
        "size on disk",
        "n",
        "exec→job median ms",
        "p90 ms",
        "over direct ms",
        "CPU of `pilot --help` ms",
        "RSS 1 job MiB",
        "RSS full set-up MiB",
    ]
    print(f"direct exec→job median {common.ms(base)} ms\n")
    print(common.table(headers, rows))


if __name__ == "__main__":
    main()
