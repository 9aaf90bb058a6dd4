"""The state of the datacenter: the store and its index, catalog, KV, sessions, user events,
the timers, and the errors their rules raise."""
