"""The bounds one HTTP server or client keeps to, so that a hostile peer costs bounded time
and memory."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """What one side of a connection accepts from the other."""

    max_head: int = 16 << 10  # request or status line and headers, as bytes on the wire
    max_body: int = 1 << 20
    head_deadline: float = 10.0  # seconds for a whole request (head and body) once it began
    idle_timeout: float = 10.0  # seconds for a request to begin, and for an answer to be taken
    max_connections: int = 64  # open at once; a server queues or refuses the next ones
    linger: float = 1.0  # seconds to discard the rest of a request answered before it was read
    # A client keeps the first max_body bytes of a longer answer, and stops reading there (the
    # connection then closes), instead of refusing it: for probes that want only its start.
    truncate_body: bool = False
