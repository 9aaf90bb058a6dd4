"""Files from the environment: base64 variables decoded into files before any job starts."""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass

from pilot.config.errors import ConfigError
from pilot.config.model import FileFromEnv


@dataclass(frozen=True)
class DecodedFile:
    """The bytes to write for one `files:` entry."""

    spec: FileFromEnv
    data: bytes
    place: str  # files[i], for errors


def decode_files(specs: tuple[FileFromEnv, ...], environ: Mapping[str, str]) -> list[DecodedFile]:
    """Decode every listed variable; nothing is written.

    Raises:
        ConfigError: a required variable is missing or is not base64, naming the variable.
    """
    decoded = []
    for i, spec in enumerate(specs):
        place = f"files[{i}]"
        value = environ.get(spec.env)
        if value is None:
            if spec.optional:
                continue
            raise ConfigError(
                place,
                f"environment variable {spec.env} is not set "
                "(mark the entry optional: true if it may be absent)",
            )
        decoded.append(DecodedFile(spec, _decode(value, f"{place} ({spec.env})"), place))
    return decoded


def write_files(files: list[DecodedFile]) -> None:
    """Write every file or none. Each goes to a temp file beside its destination (fsync, chmod);
    only once all are written are they renamed into place. A rename that fails puts back what
    the earlier ones replaced (kept as hard links until then). No temp file is ever left.

    Raises:
        ConfigError: a file cannot be written (naming its entry); no file has been changed.
    """
    staged: list[tuple[DecodedFile, str]] = []
    created: list[str] = []  # directories made for the files, parents first
    backups: dict[str, str | None] = {}  # destination -> hard link to its previous file
    done: list[str] = []
    current = files[0] if files else None
    try:
        for current in files:
            staged.append((current, _stage(current, created)))
        for current, temp in staged:
            path = current.spec.path
            backups[path] = _keep(path)
            os.rename(temp, path)
            done.append(path)
    except (OSError, ValueError) as error:
        for path in reversed(done):
            _put_back(path, backups[path])
        for _, temp in staged:
            _remove(temp)
        for directory in reversed(created):
            with contextlib.suppress(OSError):
                os.rmdir(directory)
        assert current is not None
        reason = getattr(error, "strerror", None) or str(error)
        raise ConfigError(current.place, f"cannot write {current.spec.path}: {reason}") from None
    finally:
        for _, temp in staged:
            _remove(temp)
        for backup in backups.values():
            if backup is not None:
                _remove(backup)


def _stage(file: DecodedFile, created: list[str]) -> str:
    """A temp file in the destination's directory holding `file`'s bytes with its mode; the
    directories this makes are added to `created`."""
    directory = os.path.dirname(os.path.abspath(file.spec.path))
    missing = []
    while not os.path.isdir(directory):
        if os.path.lexists(directory):
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), directory)
        missing.append(directory)
        directory = os.path.dirname(directory)
    for directory in reversed(missing):
        os.mkdir(directory, 0o755)
        created.append(directory)
    directory = os.path.dirname(os.path.abspath(file.spec.path))
    fd, temp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(file.spec.path)}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(file.data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, file.spec.mode)
    except BaseException:
        _remove(temp)
        raise
    return temp


def _keep(path: str) -> str | None:
    """A hard link to the file at `path` (None when there is none), to put back on failure."""
    try:
        if stat.S_ISDIR(os.lstat(path).st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
    except FileNotFoundError:
        return None
    directory, name = os.path.split(os.path.abspath(path))
    backup = os.path.join(directory, f".{name}.{os.urandom(6).hex()}.previous")
    os.link(path, backup, follow_symlinks=False)
    return backup


def _put_back(path: str, backup: str | None) -> None:
    with contextlib.suppress(OSError):
        if backup is None:
            os.unlink(path)
        else:
            os.rename(backup, path)


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def exported_paths(files: list[DecodedFile]) -> dict[str, str]:
    """Environment variables naming written files, for every job."""
    return {f.spec.export: os.path.abspath(f.spec.path) for f in files if f.spec.export}


def _decode(value: str, place: str) -> bytes:
    text = "".join(value.split()).rstrip("=")
    alphabet_url = "-" in text or "_" in text
    text += "=" * (-len(text) % 4)
    try:
        if alphabet_url:
            return base64.b64decode(text, altchars=b"-_", validate=True)
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(place, "is not valid base64") from None
