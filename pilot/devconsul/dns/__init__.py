"""The DNS interface: Consul's names answered from the catalog, over UDP and TCP."""
