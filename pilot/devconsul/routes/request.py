"""One HTTP exchange as the routes see it: the request, the answer, and Consul's errors."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pilot.devconsul.go.decode import DecodeError, Struct, decode, parse_body
from pilot.devconsul.state.errors import ConsulError

_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")


def parse_bool(value: str) -> bool:
    """Go's strconv.ParseBool.

    Raises:
        ValueError: for anything else.
    """
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(value)


@dataclass
class Request:
    """A request: `rest` is the path after the route's prefix (a key, an id, a name)."""

    method: str
    path: str
    params: dict[str, list[str]]
    body: bytes
    rest: str = ""
    datacenter: str = "dc1"  # the registry's, set by the router

    def param(self, name: str) -> str | None:
        """The first value of a query parameter (Go's `Query().Get`), None when absent."""
        values = self.params.get(name)
        return values[0] if values else None

    def has(self, name: str) -> bool:
        """Whether the parameter is present at all, even bare (`?recurse`)."""
        return name in self.params

    def bool_param(self, name: str, error: str) -> bool:
        """A boolean parameter where a bare key means true; `error` is the 400's text."""
        value = self.param(name)
        if value is None:
            return False
        if value == "":
            return True
        try:
            return parse_bool(value)
        except ValueError:
            raise ConsulError(400, error) from None

    def json(self, struct: Struct) -> dict[str, Any]:
        """The body decoded as `struct`.

        Raises:
            ConsulError: 400 "Request decode failed: ..." as Consul answers.
        """
        try:
            return decode(parse_body(self.body), struct)
        except DecodeError as error:
            raise ConsulError(400, f"Request decode failed: {error}") from None


@dataclass
class Response:
    """An answer: `body` is JSON-encoded unless `raw` is given; `index` adds the query meta.

    With neither `body` nor `raw` the answer has no body at all (Consul's empty 200s and
    404s); `raw=b"null"` with a JSON `content_type` is how a JSON null is answered.
    """

    status: int = 200
    body: Any = None
    raw: bytes | None = None
    content_type: str | None = None
    index: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    stream: Iterator[bytes] | None = None  # a chunked body; b"" is a pause, not a chunk
