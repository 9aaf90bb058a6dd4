"""One HTTP request without an event loop, for the command line (`pilot ctl` starts faster
without asyncio)."""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence

from pilot.http.exchange import (
    NOT_ANSWERED,
    Address,
    ClientError,
    Exchange,
    Reply,
    Unanswered,
    host_header,
)
from pilot.http.limits import Limits


def fetch(
    address: Address,
    method: str,
    target: str,
    body: bytes = b"",
    headers: Sequence[tuple[str, str]] = (),
    timeout: float = 30.0,
    limits: Limits | None = None,
) -> Reply:
    """One request on a connection of its own, answered within `timeout` seconds.

    Raises:
        ClientError: no answer (see ClientError).
    """
    deadline = time.monotonic() + timeout
    exchange = Exchange(limits or Limits())
    data = exchange.request(method, target, [("Host", host_header(address)), *headers], body)
    try:
        with _connect(address, timeout) as sock:
            sock.sendall(data)
            while True:
                sock.settimeout(max(deadline - time.monotonic(), 0.001))
                reply = exchange.receive(sock.recv(exchange.limits.max_head))
                if reply is not None:
                    return reply
    except TimeoutError:
        raise ClientError(f"no answer within {timeout:g}s") from None
    except OSError as error:
        raise ClientError(str(error) or type(error).__name__) from None
    except Unanswered:
        raise ClientError(NOT_ANSWERED) from None


def _connect(address: Address, timeout: float) -> socket.socket:
    if not isinstance(address, str):
        return socket.create_connection(address, timeout=timeout)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(address)
    except OSError:
        sock.close()
        raise
    return sock
