"""Import time on the start-up path: `python -X importtime -m pilot --version`, and `pilot run`
of a one-job config (job `true`): total import time, the heaviest modules, and a check that
jinja2, requests, consul, urllib3 and prometheus_client stay off a config that does not use them.
Also the wall time of both, `python -m pilot` with pilot's .pyc cached (an installed pilot) and
without (a checkout under PYTHONDONTWRITEBYTECODE=1: pilot's modules compiled at every start,
Python's own still cached), alternating.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import time

from bench import common

HEAVY = ("jinja2", "requests", "consul", "urllib3", "prometheus_client")


def importtime(argv: list[str]) -> dict[str, tuple[int, int]]:
    """module → (self µs, cumulative µs) of one run."""
    result = subprocess.run(
        [common.PYTHON, "-X", "importtime", *argv],
        env=common.ENV,
        capture_output=True,
        text=True,
        check=False,
    )
    modules: dict[str, tuple[int, int]] = {}
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and "self [us]" not in line:
            own, cumulative, name = line.split(":", 1)[1].split("|")
            modules[name.strip()] = (int(own), int(cumulative))
    return modules


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(prog="python -m bench.importtime", description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args(argv)
    out = []
    data: dict[str, object] = {}
    with common.workdir("importtime") as directory:
        config = common.write_pilot_config(directory, {"jobs": [{"name": "a", "exec": ["true"]}]})
        commands = {
            "--version": ["-m", "pilot", "--version"],
            "run (1 job)": ["-m", "pilot", "run", "-c", str(config)],
        }
        for label, command in commands.items():
            importtime(command)  # write the .pyc files
            runs = [importtime(command) for _ in range(5)]
            total = common.median([sum(own for own, _ in r.values()) for r in runs])
            mods = runs[-1]
            heavy = sorted(m for m in mods if m.split(".")[0] in HEAVY)
            top = sorted(mods.items(), key=lambda kv: -kv[1][0])[:8]
            out.append(
                f"`python -X importtime -m pilot {' '.join(command[2:])}`: "
                f"{total / 1000:.1f} ms of imports (median of 5), {len(mods)} modules; "
                f"heavy modules imported: {heavy or 'none'}\n\n"
                + common.table(
                    ["module", "self ms", "cumulative ms"],
                    [[m, f"{s / 1000:.1f}", f"{c / 1000:.1f}"] for m, (s, c) in top],
                )
            )
            groups = {
                "`site` (cumulative: with the .pth files it runs)": lambda r: r["site"][1],
                "`asyncio` (cumulative)": lambda r: r.get("asyncio", (0, 0))[1],
                "pilot.config.* (self, summed)": lambda r: sum(
                    own for m, (own, _) in r.items() if m.startswith("pilot.config")
                ),
                "pilot.* but config (self, summed)": lambda r: sum(
                    own
                    for m, (own, _) in r.items()
                    if m.split(".")[0] == "pilot" and not m.startswith("pilot.config")
                ),
            }
            out.append(
                common.table(
                    ["where (median of 5)", "ms"],
                    [
                        [name, f"{common.median([part(r) for r in runs]) / 1000:.1f}"]
                        for name, part in groups.items()
                    ],
                )
            )
            data[label] = {"total_us": total, "heavy": heavy}
        # Both variants run `python -m pilot` from a copy of pilot's sources that has no
        # __pycache__: "pyc" with bytecode cached (common.ENV), "no-pyc" under
        # PYTHONDONTWRITEBYTECODE=1 and without a cache prefix, so that pilot's modules are
        # compiled at every start while Python's own still load from their __pycache__.
        source = directory / "src"
        shutil.copytree(
            common.REPO / "pilot", source / "pilot", ignore=shutil.ignore_patterns("__pycache__")
        )
        envs = {
            "pyc": {**common.ENV, "PYTHONPATH": str(source)},
            "no-pyc": {
                **{k: v for k, v in common.ENV.items() if k != "PYTHONPYCACHEPREFIX"},
                "PYTHONDONTWRITEBYTECODE": "1",
                "PYTHONPATH": str(source),
            },
        }

        def wall(variant: str) -> float:
            label, pyc = variant.rsplit(" ", 1)
            started = time.monotonic()
            subprocess.run(
                [common.PYTHON, *commands[label]],
                env=envs[pyc],
                capture_output=True,
                check=False,
            )
            return time.monotonic() - started

        variants = [f"{label} {pyc}" for label in commands for pyc in ("pyc", "no-pyc")]
        for variant in variants:  # write the cached .pyc files
            wall(variant)
        walls = common.alternate(variants, args.runs, wall)
        assert not list(source.rglob("__pycache__")), "no-pyc wrote bytecode"
    out.append(
        common.table(
            ["`python -m pilot …`", "wall median ms", "p90 ms"],
            [
                [v, common.ms(common.median(walls[v])), common.ms(common.percentile(walls[v], 90))]
                for v in variants
            ],
        )
    )
    data["wall"] = walls
    common.emit("importtime", "## import time\n\n" + "\n\n".join(out), data)
    return data


if __name__ == "__main__":
    main()
