"""Runtime hook of the bundle, run before pilot: jobs get the environment pilot was started with.

PyInstaller's bootloader adds `LD_LIBRARY_PATH` (the bundle's own libssl, libz, ...) and `_PYI_*`
variables; a job inheriting them would load the bundle's libraries instead of its own, and a
bundled `pilot ctl` started as a job would take itself for part of pilot. The dynamic loader read
`LD_LIBRARY_PATH` when pilot started, so pilot itself keeps finding its libraries.
"""

import os

for name in [name for name in os.environ if name.startswith("_PYI_")]:
    del os.environ[name]
_original = os.environ.pop("LD_LIBRARY_PATH_ORIG", None)
if _original is None:
    os.environ.pop("LD_LIBRARY_PATH", None)
else:
    os.environ["LD_LIBRARY_PATH"] = _original
