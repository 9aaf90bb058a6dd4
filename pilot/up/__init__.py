"""`pilot up`: the supervisor as a developer's stack (kept ports, remote services, file watches)."""
