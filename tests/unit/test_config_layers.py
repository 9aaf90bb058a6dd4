"""pilot/config stands alone: loading any config imports nothing else of pilot but events and
log (the import-linter contract checks the imports; this checks what actually runs)."""

from __future__ import annotations

import json
import subprocess
import textwrap

from tests.helpers import PYTHON, REPO, scaled

CONFIG = """{
  consul: "127.0.0.1:8500",
  jobs: [{name: "web", exec: "x", port: 80, interfaces: ["eth0", "static:10.0.0.1"],
          health: {tcp: "127.0.0.1:80"}}],
  templates: [{name: "up", contents: "{{ 1 }}", dest: "/tmp/up.conf"}],
}"""


def test_loading_a_config_imports_only_config_events_and_log() -> None:
    """Interfaces and templates are checked without pilot.consul or pilot.render (or Jinja2)."""
    code = textwrap.dedent(f"""
        import json, sys
        from pilot.config.load import parse_config
        parse_config({CONFIG!r}, {{}}, "pilot.json5")
        print(json.dumps(sorted(m for m in sys.modules if m.startswith(("pilot", "jinja2")))))
    """)
    result = subprocess.run(
        [PYTHON, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=scaled(30),
        check=True,
    )
    modules = json.loads(result.stdout)
    outside = [
        m
        for m in modules
        if m != "pilot" and not m.startswith(("pilot.config", "pilot.events", "pilot.log"))
    ]
    assert outside == [], outside
