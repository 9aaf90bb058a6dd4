"""Templates shipped with pilot, named in a config as `source: "pilot:nginx/upstreams.conf.j2"`."""

from __future__ import annotations

from importlib.resources import files


def shipped_template(relative: str) -> str:
    """The file system path of the shipped template `relative` (e.g. `nginx/site.conf.j2`)."""
    return str(files(__name__).joinpath(relative))
