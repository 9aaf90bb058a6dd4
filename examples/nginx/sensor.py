"""Reads nginx's stub_status once and pushes two gauges with `pilot ctl putmetric`."""

import os
import re
import shlex
import subprocess
import sys
import urllib.error
import urllib.request

try:
    status = urllib.request.urlopen(sys.argv[1], timeout=2).read().decode()
except (urllib.error.URLError, OSError) as error:
    # The first runs race nginx's start (and a restart): nothing to report yet.
    print(f"nginx does not answer yet: {getattr(error, 'reason', error)}", file=sys.stderr)
    sys.exit(0)
active = re.search(r"Active connections:\s+(\d+)", status)
waiting = re.search(r"Waiting:\s+(\d+)", status)
if not active or not waiting:
    sys.exit(f"unexpected stub_status: {status!r}")
pilot = shlex.split(os.environ.get("PILOT_BIN", "pilot"))
sys.exit(
    subprocess.call(
        [
            *pilot,
            "ctl",
            "putmetric",
            f"nginx_connections_active={active.group(1)}",
            f"nginx_connections_waiting={waiting.group(1)}",
        ]
    )
)
