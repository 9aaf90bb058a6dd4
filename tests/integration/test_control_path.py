"""The control socket's path: a regular file there is someone else's and is never removed."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import Pilot


def test_a_file_that_is_not_a_socket_is_refused_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "pilot.sock"
    path.write_text("not mine\n")
    p = Pilot(
        {"control": {"socket": str(path)}, "jobs": [{"name": "x", "exec": ["sleep", "30"]}]},
        tmp_path,
    )
    try:
        assert p.wait(10) == 2
        assert "is not a socket" in p.output
    finally:
        p.stop()
    assert path.read_text() == "not mine\n"
