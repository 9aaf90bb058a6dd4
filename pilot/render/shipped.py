"""Templates shipped with pilot (`source: "pilot:nginx/upstreams.conf.j2"`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def shipped_template(relative: str) -> str:
    """The path of a shipped template: the source tree's `templates/`, else the installed copy."""
    for root in (
        Path(__file__).resolve().parents[2] / "templates",
        Path(sys.prefix) / "share" / "pilot" / "templates",
    ):
        candidate = root / relative
        if candidate.is_file():
            return str(candidate)
    return os.path.join(sys.prefix, "share", "pilot", "templates", relative)
