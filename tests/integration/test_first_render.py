"""A restarted container: the first render equals the file already on disk. The file is left
alone and its on_change actions do not run, but `template.<name> rendered` is still emitted,
so the jobs waiting on it start."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.helpers import Pilot, Registry, python_job, wait_for

# Appends argv[2] to the file argv[1] and exits.
MARK = python_job("""
    import sys
    open(sys.argv[1], "a").write(sys.argv[2] + "\\n")
""")


def test_a_first_render_equal_to_the_file_on_disk_still_starts_its_waiting_job(
    pilot: Callable[..., Pilot], registry: Registry, tmp_path: Path
) -> None:
    marks, dest = tmp_path / "marks", tmp_path / "t.conf"
    dest.write_text("v=0\n")  # what the template renders: left by the previous container
    before = dest.stat()
    p = pilot(
        {
            "consul": registry.address,
            "logging": {"level": "debug"},
            "jobs": [
                {"name": "app", "main": True, "exec": ["sleep", "300"]},
                {
                    "name": "after-render",
                    "exec": [*MARK, str(marks), "started"],
                    "when": {"source": "template.t", "once": "rendered"},
                },
            ],
            "templates": [
                {
                    "name": "t",
                    "contents": "v={{ key_or_default('cfg/v', '0') }}\n",
                    "dest": str(dest),
                    "on_change": [{"exec": [*MARK, str(marks), "on_change"]}],
                }
            ],
        }
    )
    wait_for(lambda: marks.exists(), 10, message=f"the waiting job to run\n{p.output}")
    assert p.output.count("event template.t.rendered") == 1
    assert marks.read_text() == "started\n", "on_change ran for an unchanged file"
    after = dest.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
