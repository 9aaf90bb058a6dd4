"""docs/consul-dev.md lists every endpoint consul-dev serves, and nothing it does not serve."""

from __future__ import annotations

import re
from pathlib import Path

from pilot.devconsul.server import DevConsul

DOC = Path(__file__).resolve().parents[2] / "docs" / "consul-dev.md"


def test_reference_lists_every_endpoint() -> None:
    """Each served pattern appears with each of its methods, and every endpoint named exists."""
    registry = DevConsul("127.0.0.1:0")
    try:
        served = {
            (method, pattern.rstrip("/"))
            for pattern, methods in registry.router.endpoints()
            for method in methods
        }
    finally:
        registry.stop()
    text = DOC.read_text()
    named: set[tuple[str, str]] = set()
    for line in text.splitlines():
        if not line.startswith("- "):
            continue
        pending: list[str] = []  # `GET`, `PUT`, `DELETE /v1/kv/:key`
        for span in re.findall(r"`([^`]+)`", line):
            if re.fullmatch(r"[A-Z]+", span):
                pending.append(span)
            elif found := re.fullmatch(r"([A-Z]+) (/v1/[^ ?]*)", span):
                path = re.sub(r"/:[a-z]+.*$", "", found.group(2))
                named.update((method, path) for method in [*pending, found.group(1)])
                pending = []
    assert served - named == set(), "served but not in docs/consul-dev.md"
    assert named - served == set(), "in docs/consul-dev.md but not served"
