"""Parity of pilot's ContainerPilot dialect with the real ContainerPilot 3.8.0: what it was run
on (scenarios, corpus stubs) and the recorder that runs a binary given by the environment."""
