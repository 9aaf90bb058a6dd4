"""pilot.http: its server and client against each other over real sockets."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from pilot.http.blocking import fetch
from pilot.http.client import Client
from pilot.http.exchange import ClientError
from pilot.http.limits import Limits
from pilot.http.messages import HTTPError, Request, Response, json_response
from pilot.http.server import Server
from pilot.log import Log


async def echo(request: Request) -> Response:
    if request.path == "/slow":
        await asyncio.sleep(5)
    if request.path == "/missing":
        raise HTTPError(404, "no such thing")
    return json_response(
        {"method": request.method, "query": request.query, "body": len(request.body)}
    )


def run(work: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(work(), 30))


def test_client_keeps_its_connection_and_reads_answers_over_tcp() -> None:
    async def scenario() -> None:
        server = Server(echo, "test", Limits(), Log(stderr=io.StringIO()), keep_alive=True)
        await server.listen_tcp("127.0.0.1", 0)
        client = Client(("127.0.0.1", server.addresses[0][1]))
        try:
            first = await client.request("GET", "/a?x=1")
            stream = client._stream
            second = await client.request("POST", "/b", b"12345")
            missing = await client.request("GET", "/missing")
        finally:
            await client.close()
            await server.close()
        assert first.status == 200 and b'"query": "x=1"' in first.body
        assert client._stream is None and stream is not None
        assert second.status == 200 and b'"body": 5' in second.body
        assert missing.status == 404 and b"no such thing" in missing.body

    run(scenario)


def test_client_over_a_unix_socket_reconnects_after_a_closing_answer(tmp_path: Path) -> None:
    """The control socket closes each connection after its answer: the next request opens
    another."""

    async def scenario() -> None:
        server = Server(echo, "test", Limits(), Log(stderr=io.StringIO()))
        server.listen_unix(str(tmp_path / "s"))
        client = Client(str(tmp_path / "s"))
        try:
            answers = [await client.request("GET", f"/{n}") for n in range(3)]
        finally:
            await client.close()
            await server.close()
        assert [answer.status for answer in answers] == [200, 200, 200]
        assert answers[0].header("connection") == "close"

    run(scenario)


def test_client_timeout_and_unreachable_server_are_client_errors(tmp_path: Path) -> None:
    async def scenario() -> None:
        server = Server(echo, "test", Limits(), Log(stderr=io.StringIO()))
        server.listen_unix(str(tmp_path / "s"))
        client = Client(str(tmp_path / "s"))
        try:
            with pytest.raises(ClientError, match=r"no answer within 0\.2s"):
                await client.request("GET", "/slow", timeout=0.2)
            assert (await client.request("GET", "/after")).status == 200
        finally:
            await client.close()
            await server.close()
        with pytest.raises(ClientError):
            await Client(str(tmp_path / "nothing")).request("GET", "/")

    run(scenario)


def test_an_answer_over_the_body_limit_is_refused(tmp_path: Path) -> None:
    async def big(request: Request) -> Response:
        return Response(200, b"x" * 5000, "text/plain")

    async def scenario() -> None:
        server = Server(big, "test", Limits(), Log(stderr=io.StringIO()))
        server.listen_unix(str(tmp_path / "s"))
        try:
            with pytest.raises(ClientError, match="answer body over 1000 bytes"):
                await Client(str(tmp_path / "s"), Limits(max_body=1000)).request("GET", "/")
        finally:
            await server.close()

    run(scenario)


def test_fetch_blocks_for_one_request(tmp_path: Path) -> None:
    """The command line's form: a loop of its own, one request."""
    import threading

    ready = threading.Event()
    stop: list[Callable[[], None]] = []

    async def serve() -> None:
        server = Server(echo, "test", Limits(), Log(stderr=io.StringIO()))
        server.listen_unix(str(tmp_path / "s"))
        done = asyncio.Event()
        loop = asyncio.get_running_loop()
        stop.append(lambda: loop.call_soon_threadsafe(done.set))
        ready.set()
        await done.wait()
        await server.close()

    thread = threading.Thread(target=asyncio.run, args=(serve(),))
    thread.start()
    try:
        assert ready.wait(10)
        reply = fetch(str(tmp_path / "s"), "POST", "/v3/reload", b"{}", timeout=10)
        assert reply.status == 200 and b'"method": "POST"' in reply.body
    finally:
        stop[0]()
        thread.join(10)


def test_client_sends_anew_when_the_server_closed_the_kept_connection(tmp_path: Path) -> None:
    """A kept-alive connection the server closed while idle is replaced without an error."""

    async def scenario() -> None:
        server = Server(
            echo, "test", Limits(idle_timeout=0.2), Log(stderr=io.StringIO()), keep_alive=True
        )
        server.listen_unix(str(tmp_path / "s"))
        client = Client(str(tmp_path / "s"))
        try:
            assert (await client.request("GET", "/first")).status == 200
            stale = client._stream
            assert stale is not None
            async with asyncio.timeout(10):
                while not stale.reader.at_eof():  # the server's idle timeout closes it
                    await asyncio.sleep(0.05)
            assert (await client.request("GET", "/second")).status == 200
            assert client._stream is not stale
        finally:
            await client.close()
            await server.close()

    run(scenario)


def test_client_over_tls_verifies_the_server_against_the_ca_it_is_given(tmp_path: Path) -> None:
    """A self-signed server: accepted with its certificate as the CA, or with verification off;
    refused (ClientError naming the verification) with the system's CAs."""
    import ssl

    from pilot.http.tls import client_context
    from tests.helpers import self_signed_certificate

    cert, key = self_signed_certificate(tmp_path, "127.0.0.1")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()

    async def scenario() -> None:
        server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server_context)
        address = ("127.0.0.1", server.sockets[0].getsockname()[1])
        try:
            trusted = Client(address, tls=client_context(str(cert)))
            unchecked = Client(address, tls=client_context(False))
            assert (await trusted.request("GET", "/")).body == b"ok"
            assert (await unchecked.request("GET", "/")).body == b"ok"
            with pytest.raises(ClientError, match="CERTIFICATE_VERIFY_FAILED"):
                await Client(address, tls=client_context()).request("GET", "/")
            for client in (trusted, unchecked):
                await client.close()
        finally:
            server.close()

    run(scenario)
