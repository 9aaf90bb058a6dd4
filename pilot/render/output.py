"""Putting a rendered template in place: only when its bytes change, then its check; a failed
check or write puts the previous file back. Shared by the supervisor and `pilot render`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pilot.config.template_model import Template
from pilot.health.checks import CheckResult
from pilot.render.files import read_current, restore, write_file

CheckRunner = Callable[[tuple[str, ...], float], Awaitable[CheckResult]]


@dataclass(frozen=True)
class Replaced:
    """What became of a render: `changed` when the destination now holds the new bytes;
    `error` when it could not (the previous file is back)."""

    changed: bool
    error: str | None = None


async def replace_output(template: Template, data: bytes, run_check: CheckRunner) -> Replaced:
    """Write `data` to the template's destination if it differs, then run its check."""
    dest = template.dest
    try:
        previous = read_current(dest)
    except OSError as error:
        return Replaced(False, f"cannot read {dest}: {error.strerror or error}")
    if previous == data:
        return Replaced(False)
    try:
        write_file(dest, data, template.perms, template.owner, template.in_place)
    except OSError as error:
        return Replaced(False, _restored(dest, previous, template.in_place, error))
    if template.check is not None:
        argv = tuple(arg.replace("{dest}", dest) for arg in template.check)
        result = await run_check(argv, template.check_timeout)
        if not result.passing:
            message = f"check {' '.join(argv)} failed"
            try:
                restore(dest, previous, template.in_place)
            except OSError as error:
                return Replaced(False, f"{message}, and the previous file is lost: {error}")
            return Replaced(False, f"{message}, previous file restored: {result.output.strip()}")
    return Replaced(True)


def _restored(dest: str, previous: bytes | None, in_place: bool, error: OSError) -> str:
    """Put the previous file back after a failed write; the message says how that went."""
    reason = f"cannot write {dest}: {error.strerror or error}"
    try:
        restore(dest, previous, in_place)
    except OSError as again:
        return f"{reason}; restoring the previous file failed too: {again.strerror or again}"
    return f"{reason}; the previous file is kept"
