"""pilot: a PID-1 supervisor for containers that organise themselves through Consul."""

__version__ = "0.1.0"
