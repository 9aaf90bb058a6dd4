"""Go's text/template as ContainerPilot renders its config (the environment as data, its
functions, Go's fmt and regexp), with bounded time and size. Imports nothing else from pilot."""
