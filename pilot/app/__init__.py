"""Wiring: the supervisor that builds and owns the parts, reload, shutdown, triggers."""
