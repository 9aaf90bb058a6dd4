"""Prometheus metrics and the status document."""
