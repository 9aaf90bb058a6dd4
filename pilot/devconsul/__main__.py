"""`python -m pilot.devconsul` is `pilot consul-dev`."""

import sys

from pilot.devconsul.cli import main

sys.exit(main(sys.argv[1:]))
