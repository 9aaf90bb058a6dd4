"""One request on a connection of its own, closed after the answer, on the event loop: for
probes such as the health checks, which would only keep a connection for nothing. The request
and answer are framed by the same h11 exchange as Client's; only the connection differs.

    reply = await request_once(("127.0.0.1", 8080), "GET", "/health")
    reply = await request_once(("example.com", 443), "HEAD", "/", tls=client_context())
"""

from __future__ import annotations

import asyncio
import errno
import functools
import socket
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pilot.http.exchange import (
    NOT_ANSWERED,
    ClientError,
    Exchange,
    Reply,
    Unanswered,
    host_header,
    reason,
)
from pilot.http.limits import Limits

if TYPE_CHECKING:
    import ssl


async def request_once(
    address: tuple[str, int],
    method: str,
    target: str,
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
    *,
    limits: Limits | None = None,
    tls: ssl.SSLContext | None = None,
    server_name: str | None = None,
) -> Reply:
    """Send one request to `address` (a host name or address, and a port) and read its answer;
    `headers` get a Host naming `address` and `Connection: close` unless they hold their own.
    With `tls` the connection is TLS, its certificate checked against `server_name` (by default
    the host). It has no timeout of its own: bound it with asyncio.timeout.

    Raises:
        ClientError: no answer; a refused or reset connection in the OS's words (see reason).
    """
    given = {name.lower() for name, _ in headers}
    head = [*headers]
    if "host" not in given:
        head.insert(0, ("Host", host_header(address)))
    if "connection" not in given:
        head.append(("Connection", "close"))
    exchange = Exchange(limits or Limits())
    data = exchange.request(method, target, head, body)
    try:
        if tls is None:
            return await _over_socket(address, data, exchange)
        return await _over_tls(address, data, exchange, tls, server_name or address[0])
    except (OSError, UnicodeError) as error:  # UnicodeError: a host name IDNA cannot encode
        raise ClientError(reason(error)) from None
    except Unanswered:
        raise ClientError(NOT_ANSWERED) from None


async def _over_socket(address: tuple[str, int], data: bytes, exchange: Exchange) -> Reply:
    """On the socket itself: a stream's transport and protocol objects would cost more CPU than
    the rest of a loopback request."""
    loop = asyncio.get_running_loop()
    sock = await _connect(*address)
    try:
        await loop.sock_sendall(sock, data)
        while (
            reply := exchange.receive(await loop.sock_recv(sock, exchange.limits.max_head))
        ) is None:
            pass
        return reply
    finally:
        sock.close()


async def _over_tls(
    address: tuple[str, int],
    data: bytes,
    exchange: Exchange,
    tls: ssl.SSLContext,
    server_name: str,
) -> Reply:
    reader, writer = await asyncio.open_connection(
        *address, ssl=tls, server_hostname=server_name, limit=exchange.limits.max_head
    )
    try:
        writer.write(data)
        while (reply := exchange.receive(await reader.read(exchange.limits.max_head))) is None:
            pass
        return reply
    finally:
        writer.close()


@functools.lru_cache(maxsize=64)
def _numeric(host: str, port: int) -> list[tuple[Any, ...]]:
    """`host`:`port` as socket addresses when `host` is an address (no resolver, no thread;
    an address never changes, so it is looked at once), else []."""
    try:
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    except socket.gaierror:
        return []


async def _connect(host: str, port: int) -> socket.socket:
    """A non-blocking socket connected to `host`:`port`, its addresses tried in turn (as
    asyncio.open_connection does, with the same errors)."""
    loop = asyncio.get_running_loop()
    infos = _numeric(host, port) or await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    if not infos:
        raise OSError("getaddrinfo() returned empty list")
    errors: list[OSError] = []
    for family, kind, proto, _, sockaddr in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            await _sock_connect(loop, sock, sockaddr)
        except BaseException as error:
            sock.close()
            if not isinstance(error, OSError):
                raise
            errors.append(error)
            continue
        return sock
    if len(errors) == 1 or all(str(error) == str(errors[0]) for error in errors):
        raise errors[0]
    raise OSError(f"Multiple exceptions: {', '.join(str(error) for error in errors)}")


async def _sock_connect(
    loop: asyncio.AbstractEventLoop, sock: socket.socket, sockaddr: tuple[Any, ...]
) -> None:
    """loop.sock_connect without its own look-up of the address, which is resolved already
    (with cold caches, as between checks, that look-up is a quarter of connecting's CPU)."""
    error = sock.connect_ex(sockaddr)
    if error in (errno.EINPROGRESS, errno.EINTR):
        fd = sock.fileno()
        writable = loop.create_future()

        def connected() -> None:
            loop.remove_writer(fd)
            if not writable.done():
                writable.set_result(None)

        loop.add_writer(fd, connected)
        try:
            await writable
        finally:
            loop.remove_writer(fd)
        error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if error:
        raise OSError(error, f"Connect call failed {sockaddr}")
