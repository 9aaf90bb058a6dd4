"""Config sections about templates: what is rendered where, how it is checked, what follows."""

from __future__ import annotations

import os

from pilot.config.frozen import section
from pilot.config.kinds import Argv, Bool, Duration, FileMode, Int, Signal, Str, setting
from pilot.config.sections import ListOf, MapOf, Obj


@section
class OnChange:
    """One action after a render changed the file: signal a job, restart a job, or run a command."""

    signal: int | None = setting(Signal(), "signal to send to `job`", None)
    job: str | None = setting(Str(), "the job to signal", None)
    restart: str | None = setting(Str(), "a job to restart", None)
    exec: tuple[str, ...] | None = setting(Argv(), "a command to run", None)
    timeout: float = setting(Duration(positive=True), "bound on `exec`", 30.0)


@section
class TemplateWait:
    """Quiescence: render once changes have stopped for `min`, but no later than `max`."""

    min: float = setting(Duration(), "quiet time before rendering", 0.0)
    max: float | None = setting(
        Duration(), "longest delay after the first change (default 4 x min)", None
    )

    @property
    def longest(self) -> float:
        return self.max if self.max is not None else 4 * self.min


@section
class Template:
    """A Jinja2 template rendered from Consul data into a file."""

    dest: str = setting(Str(), "the file written")
    name: str = setting(Str(), "events come from template.<name> (default: dest's file name)", "")
    source: str | None = setting(
        Str(),
        "Jinja2 file, relative to the config file, or pilot:<path> for a shipped template",
        None,
    )
    contents: str | None = setting(Str(), "the template itself, inline", None)
    perms: int | None = setting(
        FileMode(), "file mode (default: the existing file's, else 0644)", None
    )
    owner: str | None = setting(Str(), '"user" or "user:group" (pilot must be root)', None)
    check: tuple[str, ...] | None = setting(
        Argv(), "command run once the new file is in place; {dest} is replaced by the path", None
    )
    check_timeout: float = setting(Duration(positive=True), "bound on the check", 30.0)
    render_timeout: float = setting(
        Duration(positive=True),
        "bound on evaluating the template; past it the render fails and the last file stays",
        10.0,
    )
    on_change: tuple[OnChange, ...] = setting(
        ListOf(Obj(OnChange)), "actions after a render that changed the file", ()
    )
    wait: TemplateWait = setting(
        Obj(TemplateWait), "quiescence: when to render after changes", TemplateWait()
    )
    min_instances: tuple[tuple[str, int], ...] = setting(
        MapOf(Int(minimum=0)), "keep the last file while a service has fewer passing instances", ()
    )
    in_place: bool = setting(
        Bool(), "write through the existing inode (single-file bind mounts)", False
    )

    def __post_init__(self) -> None:
        if not self.name:  # frozen: set once, here, so that `name` is always the one in use
            object.__setattr__(self, "name", os.path.basename(self.dest.rstrip("/")))
