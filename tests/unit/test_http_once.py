"""pilot.http's one-shot request (request_once) and what it added to the exchange: the status
line's phrase, a body cut at max_body, and errors in plain words; against raw servers that
answer canned bytes over real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pilot.http.client import Client
from pilot.http.exchange import ClientError, Reply
from pilot.http.limits import Limits
from pilot.http.once import request_once
from pilot.http.tls import client_context
from tests.helpers import scaled, self_signed_certificate

BIG = b"x" * 5000
ANSWERS = {
    "/missing": b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope",
    "/no-phrase": b"HTTP/1.1 204\r\n\r\n",
    "/long": b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + BIG,
    "/until-close": b"HTTP/1.1 200 OK\r\n\r\n" + BIG,
    "/exact": b"HTTP/1.1 200 OK\r\n\r\n" + BIG[:1000],
    "/chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    + b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (BIG[:600], BIG[:600])),
    "/head": b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
    "/cut": b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhal",
    "/ssh": b"SSH-2.0-OpenSSH_9.2\r\n",
}
CLOSE_AFTER = ("/cut", "/close")  # the server hangs up after these; it holds the others open


@dataclass
class Raw:
    """A server on 127.0.0.1 answering ANSWERS by path, recording each request's head."""

    port: int = 0
    heads: list[list[str]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode().split("\r\n")[:-2]
        self.heads.append(head)
        path = head[0].split()[1]
        writer.write(ANSWERS.get(path, b""))
        with contextlib.suppress(ConnectionError):
            await writer.drain()
            if path not in CLOSE_AFTER:
                await self.release.wait()
        writer.close()


@contextlib.asynccontextmanager
async def raw(tls: ssl.SSLContext | None = None) -> AsyncIterator[Raw]:
    server_side = Raw()
    server = await asyncio.start_server(server_side.handle, "127.0.0.1", 0, ssl=tls)
    server_side.port = server.sockets[0].getsockname()[1]
    try:
        yield server_side
    finally:
        server_side.release.set()
        server.close()
        await server.wait_closed()


def run(work: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(work(), scaled(30)))


async def ask(path: str, limits: Limits | None = None, method: str = "GET") -> Reply:
    """`method` `path` of a fresh Raw server; the answers held open must not be waited for."""
    async with raw() as server:
        async with asyncio.timeout(scaled(10)):
            return await request_once(("127.0.0.1", server.port), method, path, limits=limits)


def test_one_request_closes_and_reads_the_status_phrase() -> None:
    """Host and `Connection: close` are added; the answer is whole at its Content-Length,
    though the server keeps the connection open; the phrase is kept, or "" without one."""

    async def scenario() -> None:
        async with raw() as server:
            address = ("127.0.0.1", server.port)
            reply = await request_once(address, "GET", "/missing", [("X-Probe", "1")])
            own_host = await request_once(address, "GET", "/missing", [("Host", "example")])
        assert (reply.status, reply.reason, reply.body) == (404, "Not Found", b"nope")
        assert server.heads[0] == [
            "GET /missing HTTP/1.1",
            f"Host: 127.0.0.1:{server.port}",
            "X-Probe: 1",
            "Connection: close",
        ]
        assert own_host.status == 404 and "Host: example" in server.heads[1]
        assert (await ask("/no-phrase")).reason == ""

    run(scenario)


@pytest.mark.parametrize("path", ["/long", "/until-close", "/exact", "/chunked"])
def test_truncate_body_keeps_the_start_without_waiting_for_the_rest(path: str) -> None:
    """With `truncate_body`, the first max_body bytes are the body, read as soon as they are in
    (however the body is framed); without it, a longer body is refused."""

    async def scenario() -> None:
        reply = await ask(path, Limits(max_body=1000, truncate_body=True))
        assert reply.status == 200 and reply.body == BIG[:1000]
        if path != "/exact":
            with pytest.raises(ClientError, match="answer body over 1000 bytes"):
                await ask(path, Limits(max_body=1000))

    run(scenario)


def test_a_head_answer_has_no_body_to_wait_for() -> None:
    async def scenario() -> None:
        reply = await ask("/head", method="HEAD")
        assert (reply.status, reply.header("content-length"), reply.body) == (200, "10", b"")

    run(scenario)


def test_errors_are_in_plain_words() -> None:
    """A refused connection in the OS's words; a hang-up before or in the middle of the answer;
    a server that is not HTTP, said as soon as its first line is in (it waits for us)."""

    async def scenario() -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            closed = sock.getsockname()[1]
        with pytest.raises(ClientError, match=r"^Connection refused$"):
            await request_once(("127.0.0.1", closed), "GET", "/")
        expected = {
            "/close": "the server closed the connection without answering",
            "/cut": "the server closed the connection in the middle of its answer",
            "/ssh": "not an HTTP answer: 'SSH-2.0-OpenSSH_9.2'",
        }
        for path, message in expected.items():
            with pytest.raises(ClientError) as error:
                await ask(path)
            assert str(error.value) == message

    run(scenario)


def test_over_tls(tmp_path: Path) -> None:
    cert, key = self_signed_certificate(tmp_path, "127.0.0.1")
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(cert, key)

    async def scenario() -> None:
        async with raw(server_side) as server:
            address = ("127.0.0.1", server.port)
            reply = await request_once(address, "GET", "/missing", tls=client_context(str(cert)))
            with pytest.raises(ClientError, match="CERTIFICATE_VERIFY_FAILED"):
                await request_once(address, "GET", "/missing", tls=client_context())
        assert (reply.status, reply.body) == (404, b"nope")

    run(scenario)


def test_client_with_truncate_body_reconnects_after_a_cut_answer() -> None:
    """A cut answer leaves the connection mid-body: Client closes it, and opens another for the
    next request."""

    async def scenario() -> None:
        async with raw() as server:
            client = Client(("127.0.0.1", server.port), Limits(max_body=100, truncate_body=True))
            try:
                first = await client.request("GET", "/long", timeout=scaled(10))
                second = await client.request("GET", "/missing", timeout=scaled(10))
            finally:
                await client.close()
        assert first.body == BIG[:100] and second.body == b"nope"
        assert len(server.heads) == 2

    run(scenario)
