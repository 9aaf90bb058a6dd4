"""Profile of pilot's life with py-spy (pip install py-spy, or `pip install -e '.[bench]'`):
`pilot run` of a one-job config (job `true`) sampled at 2000 Hz, `--runs` times; prints the
frames that hold the most samples (inclusive), i.e. where start-up and exit spend their time.
With --finalise, pilot as it was before `pilot run` left with os._exit (common.PILOT_FINALISING).
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess

from bench import common


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument(
        "--finalise",
        action="store_true",
        help="profile pilot leaving through the interpreter's finalisation (as before os._exit)",
    )
    args = parser.parse_args(argv)
    command = common.PILOT_FINALISING if args.finalise else common.pilot_argv()
    if not shutil.which("py-spy"):
        print("# needs py-spy: pip install py-spy")
        return
    samples: collections.Counter[str] = collections.Counter()
    total = 0
    with common.workdir("profile") as directory:
        config = common.write_pilot_config(directory, {"jobs": [{"name": "a", "exec": ["true"]}]})
        for run in range(args.runs):
            out = directory / f"{run}.txt"
            subprocess.run(
                [
                    "py-spy",
                    "record",
                    "--format",
                    "raw",
                    "--rate",
                    "2000",
                    "-o",
                    str(out),
                    "--",
                    *command,
                    "run",
                    "-c",
                    str(config),
                ],
                env=common.ENV,
                capture_output=True,
                check=False,
            )
            for line in out.read_text().splitlines():
                stack, _, count = line.rpartition(" ")
                total += int(count)
                seen = set()
                for frame in stack.split(";"):
                    name = re.sub(r":\d+\)", ")", frame) or "(no Python frame: C code only)"
                    if name not in seen:
                        seen.add(name)
                        samples[name] += int(count)
    print(f"{total} samples; frames holding the most (inclusive):\n")
    for name, count in samples.most_common(args.top):
        print(f"{100 * count / total:5.1f}%  {name}")


if __name__ == "__main__":
    main()
