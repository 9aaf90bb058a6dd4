"""write_files: every file or none, and never a temp file left behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pilot.config.errors import ConfigError
from pilot.config.model import FileFromEnv
from pilot.render.envfiles import DecodedFile, write_files


def decoded(path: Path, data: bytes, i: int) -> DecodedFile:
    return DecodedFile(FileFromEnv(env=f"V{i}", path=str(path)), data, f"files[{i}]")


def test_a_rename_that_fails_puts_back_the_files_already_replaced(tmp_path: Path) -> None:
    """When the second destination cannot be replaced (a directory appeared there after the
    config was checked), the first gets its old bytes back and nothing else is left."""
    (tmp_path / "first").write_bytes(b"old")
    os.chmod(tmp_path / "first", 0o640)
    (tmp_path / "second").mkdir()
    files = [
        decoded(tmp_path / "first", b"new", 0),
        decoded(tmp_path / "second", b"new", 1),
        decoded(tmp_path / "made" / "deep" / "third", b"new", 2),
    ]
    with pytest.raises(ConfigError) as info:
        write_files(files)
    assert info.value.place == "files[1]" and "Is a directory" in info.value.message
    assert (tmp_path / "first").read_bytes() == b"old"
    assert os.stat(tmp_path / "first").st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["first", "second"]
    assert list((tmp_path / "second").iterdir()) == []


def test_all_files_are_written_and_no_temp_file_is_left(tmp_path: Path) -> None:
    """On success every destination holds its bytes with its mode, and only they exist."""
    (tmp_path / "first").write_bytes(b"old")
    write_files([decoded(tmp_path / "first", b"one", 0), decoded(tmp_path / "d" / "2", b"two", 1)])
    assert (tmp_path / "first").read_bytes() == b"one"
    assert (tmp_path / "d" / "2").read_bytes() == b"two"
    assert os.stat(tmp_path / "d" / "2").st_mode & 0o777 == 0o600
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == [
        "d",
        "d/2",
        "first",
    ]
