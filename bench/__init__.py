"""Benchmarks of pilot against direct exec, tini, dumb-init and supervisord (see BENCHMARKS.md).

`python -m bench` runs the quick subset; `python -m bench.<figure> --help` runs one in full.
Not part of the test suite: timings are measured here, never asserted in tests.
"""
