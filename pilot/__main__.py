"""`python -m pilot` is the same as the `pilot` command."""

import sys

from pilot.cli.pilot import main

sys.exit(main())
