"""Files from the environment: base64 variables decoded into files before any job starts."""

from __future__ import annotations

import base64
import binascii
import os
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
    """Write every file or none: each goes to a temp file beside its destination (fsync, chmod),
    and they are renamed into place only once all are written.

    Raises:
        ConfigError: a file cannot be written (naming its entry); no file has been replaced.
    """
    staged: list[tuple[str, str]] = []
    for file in files:
        try:
            staged.append((_stage(file), file.spec.path))
        except OSError as error:
            for temp, _ in staged:
                os.unlink(temp)
            reason = error.strerror or str(error)
            raise ConfigError(file.place, f"cannot write {file.spec.path}: {reason}") from None
    for temp, path in staged:
        os.replace(temp, path)


def _stage(file: DecodedFile) -> str:
    """A temp file in the destination's directory holding `file`'s bytes with its mode."""
    directory = os.path.dirname(os.path.abspath(file.spec.path))
    os.makedirs(directory, mode=0o755, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(file.spec.path)}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(file.data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, file.spec.mode)
    except BaseException:
        os.unlink(temp)
        raise
    return temp


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
