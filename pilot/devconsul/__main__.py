"""`python -m pilot.devconsul` is `pilot consul-dev`."""

from __future__ import annotations

import sys

from pilot.devconsul.cli import main

sys.exit(main(sys.argv[1:]))
