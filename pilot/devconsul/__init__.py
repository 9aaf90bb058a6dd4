"""`pilot consul-dev`: an in-memory registry that speaks Consul's HTTP API."""

from __future__ import annotations

from pilot.devconsul.server import DevConsul, running

__all__ = ["DevConsul", "running"]
