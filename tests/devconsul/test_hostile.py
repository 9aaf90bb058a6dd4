"""Hostile requests get Go's answers (400/501, one log line, no traceback), over raw sockets."""

from __future__ import annotations

import logging
import socket

import pytest

from pilot.devconsul.server import MAX_CONNS_PER_CLIENT, TOO_MANY_RESPONSE, DevConsul
from tests.helpers import scaled, wait_for


def exchange(dev: DevConsul, raw: bytes) -> bytes:
    """Send `raw` on a fresh connection; everything the server answers until it hangs up."""
    host, port = dev.address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=scaled(5)) as sock:
        sock.sendall(raw)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def put(path: str, headers: str, body: bytes = b"") -> bytes:
    """A raw PUT with `headers` (CRLF-separated) and a closing connection."""
    head = f"PUT {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}\r\n"
    return head.encode() + body


@pytest.mark.parametrize("length", ["abc", "-5", "1e3", "5, 6"])
def test_bad_content_length_is_go_400(
    dev: DevConsul, length: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A Content-Length that is not a non-negative integer is Go's bare 400, logged once."""
    with caplog.at_level(logging.WARNING, "pilot.devconsul"):
        answer = exchange(dev, put("/v1/kv/a", f"Content-Length: {length}\r\n", b"hello"))
    assert answer == (
        b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Connection: close\r\n\r\n400 Bad Request"
    )
    assert len(caplog.records) == 1 and caplog.records[0].exc_info is None
    assert "Traceback" not in caplog.text


def test_differing_content_lengths_are_400(dev: DevConsul) -> None:
    """Two Content-Length headers that disagree are refused as Go refuses them."""
    answer = exchange(dev, put("/v1/kv/a", "Content-Length: 1\r\nContent-Length: 2\r\n", b"ab"))
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")


def test_unknown_transfer_encoding_is_501(dev: DevConsul) -> None:
    """A transfer coding other than chunked is Go's 501."""
    answer = exchange(dev, put("/v1/kv/a", "Transfer-Encoding: gzip\r\n"))
    assert answer.startswith(b"HTTP/1.1 501 Not Implemented\r\n")
    assert answer.endswith(b"\r\n\r\nUnsupported transfer encoding")


@pytest.mark.parametrize(
    ("chunks", "error"),
    [
        (b"zz\r\nhello\r\n0\r\n\r\n", "invalid byte in chunk length"),
        (b"\r\nhello\r\n0\r\n\r\n", "empty hex number for chunk length"),
        (b"11111111111111111\r\nx\r\n", "http chunk length too large"),
        (b"2\r\nhello\r\n0\r\n\r\n", "malformed chunked encoding"),
    ],
)
def test_bad_chunked_body_is_400(
    dev: DevConsul, chunks: bytes, error: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A malformed chunked body is a 400 with the Go chunked reader's text, no traceback."""
    with caplog.at_level(logging.WARNING, "pilot.devconsul"):
        answer = exchange(
            dev, put("/v1/agent/service/register", "Transfer-Encoding: chunked\r\n", chunks)
        )
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert body.decode() == f"Request decode failed: {error}"
    assert len(caplog.records) == 1 and "Traceback" not in caplog.text


def test_good_chunked_body_is_read(dev: DevConsul) -> None:
    """A well-formed chunked body with an extension and a trailer is the value written."""
    chunks = b"3;ext=1\r\nhel\r\n2\r\nlo\r\n0\r\nTrailer: x\r\n\r\n"
    answer = exchange(dev, put("/v1/kv/c", "Transfer-Encoding: chunked\r\n", chunks))
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"true")
    got = exchange(dev, b"GET /v1/kv/c?raw HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert got.endswith(b"\r\n\r\nhello")


@pytest.mark.parametrize("depth", [2000, 20000])
def test_deeply_nested_json_is_400(
    dev: DevConsul, depth: int, caplog: pytest.LogCaptureFixture
) -> None:
    """JSON nested beyond the decoder's depth is a 400 with Go's max-depth text."""
    body = b'{"Name": "x", "Meta": ' + b"[" * depth + b"]" * depth + b"}"
    with caplog.at_level(logging.WARNING, "pilot.devconsul"):
        answer = exchange(
            dev, put("/v1/agent/service/register", f"Content-Length: {len(body)}\r\n", body)
        )
    head, _, text = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert text == b"Request decode failed: invalid character '[' exceeded max depth"
    assert "Traceback" not in caplog.text


def test_short_body_is_400(dev: DevConsul) -> None:
    """A body shorter than its Content-Length (the client hung up) is a 400, not a traceback."""
    host, port = dev.address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=scaled(5)) as sock:
        sock.sendall(put("/v1/kv/a", "Content-Length: 10\r\n", b"abc"))
        sock.shutdown(socket.SHUT_WR)
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 400 ")


def test_connections_per_client_are_capped_as_consul_caps_them(dev: DevConsul) -> None:
    """Past 200 connections from one address (limits.http_max_conns_per_client), one more is
    answered go-connlimit's 429 and closed; once some close, new ones are served again."""
    host, port = dev.address.rsplit(":", 1)
    idle = [
        socket.create_connection((host, int(port)), timeout=5) for _ in range(MAX_CONNS_PER_CLIENT)
    ]
    try:
        wait_for(lambda: _refused(dev), 10, message="the connection past the cap refused")
        assert _refused(dev) == TOO_MANY_RESPONSE
    finally:
        for sock in idle:
            sock.close()
    wait_for(lambda: _status(dev) == b"HTTP/1.1 200 OK", 10, message="served again")


def _refused(dev: DevConsul) -> bytes:
    answer = exchange(
        dev, b"GET /v1/status/leader HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    return answer if answer.startswith(b"HTTP/1.1 429") else b""


def _status(dev: DevConsul) -> bytes:
    answer = exchange(
        dev, b"GET /v1/status/leader HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    return answer.split(b"\r\n", 1)[0]
