"""The local agent (its services, checks, maintenance and reaper) and the registry that
assembles it with the state."""
