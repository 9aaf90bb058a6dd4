"""`pilot consul-dev`: an in-memory registry that speaks Consul's HTTP API."""

from pilot.devconsul.server import DevConsul, running

__all__ = ["DevConsul", "running"]
