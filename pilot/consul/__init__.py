"""Consul: registration, health checks, watches, leader election."""
