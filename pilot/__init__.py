"""pilot: a PID-1 supervisor for containers that organise themselves through Consul."""

from __future__ import annotations

DISTRIBUTION = "pilot-supervisor"


def __getattr__(name: str) -> str:
    """`__version__` is read from the package metadata when asked for, not at import time."""
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return "0+unknown"
