"""Writing rendered files: atomically (temp file, fsync, rename) or through the existing inode."""

from __future__ import annotations

import errno
import grp
import os
import pwd
import tempfile


def read_current(path: str) -> bytes | None:
    """The file's bytes, or None when it does not exist."""
    try:
        with open(path, "rb") as file:
            return file.read()
    except FileNotFoundError:
        return None


def write_file(
    path: str,
    data: bytes,
    perms: int | None = None,
    owner: str | None = None,
    in_place: bool = False,
) -> None:
    """Replace `path`'s contents with `data`.

    The default is atomic: a temp file in the same directory, fsync, chmod/chown, rename, so a
    reader sees the old file or the new one, never a mix. `in_place` writes through the existing
    inode instead, for single-file bind mounts, where a rename would not be seen.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=0o755, exist_ok=True)
    mode = perms if perms is not None else _existing_mode(path)
    if in_place and os.path.exists(path):
        with open(path, "r+b") as file:
            _reserve(file.fileno(), len(data))  # a full disk fails here, before any byte changes
            file.write(data)
            file.truncate()
            file.flush()
            os.fsync(file.fileno())
        if perms is not None:
            os.chmod(path, perms)
        _chown(path, owner)
        return
    fd, temp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temp, mode)
        _chown(temp, owner, like=path)
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise


def restore(path: str, previous: bytes | None, in_place: bool = False) -> None:
    """Put `previous` back (or remove the file if there was none before)."""
    if previous is None:
        if os.path.exists(path):
            os.unlink(path)
        return
    write_file(path, previous, in_place=in_place)


def _reserve(fd: int, size: int) -> None:
    """Allocate `size` bytes for `fd`, so that writing them cannot fail for want of space."""
    if size == 0:
        return
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as error:
        if error.errno not in (errno.EOPNOTSUPP, errno.EINVAL):  # a file system without it
            raise


def _existing_mode(path: str) -> int:
    try:
        return os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        return 0o644


def _chown(path: str, owner: str | None, like: str | None = None) -> None:
    if owner is not None:
        user, _, group = owner.partition(":")
        uid = pwd.getpwnam(user).pw_uid if not (user.isascii() and user.isdigit()) else int(user)
        gid = (
            grp.getgrnam(group).gr_gid
            if group and not (group.isascii() and group.isdigit())
            else int(group)
            if group
            else -1
        )
        os.chown(path, uid, gid)
    elif like is not None and os.path.exists(like) and os.geteuid() == 0:
        stat = os.stat(like)
        os.chown(path, stat.st_uid, stat.st_gid)  # keep the existing owner
