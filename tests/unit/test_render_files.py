"""Rendered files are replaced atomically, or in place when asked, and can be restored."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from pilot.render.files import read_current, restore, write_file


def payload(i: int, size: int = 5 * 1024 * 1024) -> bytes:
    body = bytes([i % 251]) * (size - 32)
    return body + hashlib.sha256(body).digest()


def test_readers_never_see_a_torn_file(tmp_path: Path) -> None:
    """A 5 MB file rewritten 100 times; a concurrent reader checks its trailing checksum."""
    path = tmp_path / "big.conf"
    write_file(str(path), payload(0))
    stop = threading.Event()
    reads, torn = [0], [0]

    def reader() -> None:
        while not stop.is_set():
            data = path.read_bytes()
            reads[0] += 1
            if hashlib.sha256(data[:-32]).digest() != data[-32:]:
                torn[0] += 1

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(1, 101):
            write_file(str(path), payload(i))
    finally:
        stop.set()
        thread.join()
    assert torn[0] == 0
    assert reads[0] > 10
    assert path.read_bytes() == payload(100)


def test_mode_defaults_and_is_kept(tmp_path: Path) -> None:
    """A new file gets 0644; a rewrite keeps the existing mode unless perms is given."""
    path = tmp_path / "a.conf"
    write_file(str(path), b"one")
    assert path.stat().st_mode & 0o777 == 0o644
    os.chmod(path, 0o600)
    write_file(str(path), b"two")
    assert path.stat().st_mode & 0o777 == 0o600
    write_file(str(path), b"three", perms=0o640)
    assert path.stat().st_mode & 0o777 == 0o640


def test_in_place_keeps_the_inode(tmp_path: Path) -> None:
    """in_place writes through the existing inode (what a single-file bind mount needs)."""
    path = tmp_path / "bound.conf"
    path.write_bytes(b"a much longer first version\n")
    inode = path.stat().st_ino
    write_file(str(path), b"short\n", in_place=True)
    assert path.stat().st_ino == inode and path.read_bytes() == b"short\n"
    write_file(str(path), b"renamed\n")
    assert path.stat().st_ino != inode


def test_restore_puts_back_or_removes(tmp_path: Path) -> None:
    """restore writes the previous bytes back, or removes a file that did not exist before."""
    path = tmp_path / "x.conf"
    write_file(str(path), b"new")
    restore(str(path), b"old")
    assert read_current(str(path)) == b"old"
    restore(str(path), None)
    assert read_current(str(path)) is None


def test_parent_directories_are_created(tmp_path: Path) -> None:
    """The destination's directory is created when missing."""
    path = tmp_path / "deep" / "er" / "f.conf"
    write_file(str(path), b"x")
    assert path.read_bytes() == b"x"
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")], "no temp file left"
