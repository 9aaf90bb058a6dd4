"""The bundle's entry script: the `pilot` command, or `containerpilot` when started by that name
(the bundle's `containerpilot` is a link to `pilot`)."""

import os
import sys

if os.path.basename(sys.argv[0]) == "containerpilot":
    from pilot.cli.containerpilot import main
else:
    from pilot.cli.pilot import main

sys.exit(main())
