"""Request bodies read as Go's net/http reads them: its Content-Length rules, its chunked
decoder and their error texts."""

from __future__ import annotations

from io import BufferedIOBase

MAX_CHUNK_LINE = 4096  # net/http/internal: maxLineLength


class BadFraming(Exception):
    """Headers Go's server refuses before any handler runs: `status` and the plain text
    written after its bare status line."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status, self.text = status, text


class BadBody(Exception):
    """A body that breaks off or is malformed while it is read; the text is Go's."""


def content_length(values: list[str], chunked: bool) -> int:
    """The body's length from the Content-Length headers (-1 when chunked or absent).

    Raises:
        BadFraming: 400 for a value that is not a non-negative integer or several that differ
            (Go's parseContentLength), 501 for a transfer coding other than chunked.
    """
    if chunked:
        return -1
    if not values:
        return 0
    first = values[0].strip(" \t")
    if any(value.strip(" \t") != first for value in values[1:]):
        raise BadFraming(400, "400 Bad Request")
    if not (first.isascii() and first.isdigit()) or int(first) >= 2**63:
        raise BadFraming(400, "400 Bad Request")
    return int(first)


def transfer_chunked(values: list[str]) -> bool:
    """Whether the body is chunked.

    Raises:
        BadFraming: 501 "Unsupported transfer encoding" for anything but "chunked".
    """
    if not values:
        return False
    if len(values) > 1 or values[0].strip(" \t").lower() != "chunked":
        raise BadFraming(501, "Unsupported transfer encoding")
    return True


def read_chunked(stream: BufferedIOBase) -> bytes:
    """A chunked body, trailers skipped.

    Raises:
        BadBody: Go's chunkedReader texts ("invalid byte in chunk length", ...).
    """
    parts = []
    while True:
        size = _chunk_size(_line(stream))
        if size == 0:
            break
        data = stream.read(size)
        if len(data) < size:
            raise BadBody("unexpected EOF")
        parts.append(data)
        if stream.read(2) != b"\r\n":
            raise BadBody("malformed chunked encoding")
    while _line(stream):  # trailers, up to the empty line
        pass
    return b"".join(parts)


def _line(stream: BufferedIOBase) -> bytes:
    line = stream.readline(MAX_CHUNK_LINE + 1)
    if len(line) > MAX_CHUNK_LINE:
        raise BadBody("header line too long")
    if not line.endswith(b"\n"):
        raise BadBody("unexpected EOF")
    return line.rstrip(b"\r\n").rstrip(b" \t")


def _chunk_size(line: bytes) -> int:
    digits = line.split(b";", 1)[0].rstrip(b" \t")
    if not digits:
        raise BadBody("empty hex number for chunk length")
    if len(digits) > 16:
        raise BadBody("http chunk length too large")
    if any(c not in b"0123456789abcdefABCDEF" for c in digits):
        raise BadBody("invalid byte in chunk length")
    return int(digits, 16)
