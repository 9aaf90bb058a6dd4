"""Health checks: their definitions, what runs them (TTL, HTTP, TCP, scripts) and the
statuses and outputs Consul reports."""
