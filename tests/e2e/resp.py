"""A minimal Redis client for the tests (RESP2): a connection per call, for one command or
for several that must share it (WAIT only waits for the writes of its own connection)."""

from __future__ import annotations

import socket
from typing import Any

from tests.helpers import scaled


class RedisError(Exception):
    """An error reply, such as READONLY or NOREPLICAS."""


def command(address: str, port: int, *args: str, timeout: float = 2.0) -> Any:
    """Send one command; return its reply (str, int, None or list) or raise RedisError/OSError
    (`timeout` scaled by PILOT_TEST_TIMEOUT_SCALE)."""
    return commands(address, port, args, timeout=timeout)[0]


def commands(address: str, port: int, *each: tuple[str, ...], timeout: float = 2.0) -> list[Any]:
    """Send commands in order on one connection; return their replies, or raise at the first
    error reply (RedisError) or OSError (`timeout` scaled by PILOT_TEST_TIMEOUT_SCALE)."""
    request = b""
    for args in each:
        request += f"*{len(args)}\r\n".encode()
        for arg in args:
            data = arg.encode()
            request += b"$%d\r\n%s\r\n" % (len(data), data)
    with socket.create_connection((address, port), timeout=scaled(timeout)) as sock:
        sock.sendall(request)
        stream = sock.makefile("rb")
        return [_reply(stream) for _ in each]


def _reply(stream: Any) -> Any:
    line = stream.readline()
    if not line:
        raise ConnectionError("connection closed before a reply")
    kind, rest = line[:1], line[1:].rstrip(b"\r\n").decode()
    if kind == b"+":
        return rest
    if kind == b"-":
        raise RedisError(rest)
    if kind == b":":
        return int(rest)
    if kind == b"$":
        length = int(rest)
        return None if length < 0 else stream.read(length + 2)[:-2].decode()
    if kind == b"*":
        count = int(rest)
        return None if count < 0 else [_reply(stream) for _ in range(count)]
    raise ConnectionError(f"unexpected reply {line!r}")
