"""The bundle's entry script: the `pilot` command."""

import sys

from pilot.cli import main

sys.exit(main())
