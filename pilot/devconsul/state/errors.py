"""The errors Consul answers: a status code and a plain-text body, raised wherever the
rule that fails lives (the state store, the agent, an endpoint)."""

from __future__ import annotations


class ConsulError(Exception):
    """An answer made of a status code and a plain-text body, as Consul writes its errors."""

    def __init__(self, status: int, text: str, allow: str | None = None) -> None:
        super().__init__(text)
        self.status, self.text, self.allow = status, text, allow
