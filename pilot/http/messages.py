"""Requests and answers as pilot's servers see them."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, TypeVar

MAX_JSON_DEPTH = 64

# A JSON string (skipped whole, so brackets inside it do not count) or a bracket.
_JSON_STRUCTURE = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)
_T = TypeVar("_T")


@dataclass
class Request:
    """One request, its body read whole. `headers` have lower-case names."""

    method: str
    path: str
    query: str
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    gone: asyncio.Event = field(default_factory=asyncio.Event)  # set when the client closes

    def header(self, name: str) -> str:
        """The first header `name` (lower case), "" when absent."""
        return next((value for key, value in self.headers if key == name), "")

    def json(self) -> Any:
        """The body as JSON; raises HTTPError(400) when it is not, or nests too deep."""
        if _nests_deeper(self.body, MAX_JSON_DEPTH):
            raise HTTPError(400, f"body is JSON nested deeper than {MAX_JSON_DEPTH} levels")
        try:
            return json.loads(self.body or b"null")
        except ValueError as error:
            raise HTTPError(400, f"body is not JSON: {error}") from None

    async def unless_gone(self, work: Awaitable[_T]) -> _T:
        """Await `work` (a long poll), but raise ConnectionError as soon as the client closes
        its end: no one is left to answer."""
        task = asyncio.ensure_future(work)
        gone = asyncio.ensure_future(self.gone.wait())
        try:
            await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
            if not task.done():
                raise ConnectionError("the client went away")
            return task.result()
        finally:
            task.cancel()
            gone.cancel()


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


class HTTPError(Exception):
    """An error answer with `status`; `allow` is the Allow header of a 405."""

    def __init__(self, status: int, message: str, allow: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.allow = status, message, allow


def json_response(value: Any, status: int = 200) -> Response:
    """`value` as indented JSON."""
    return Response(status, (json.dumps(value, indent=2, default=str) + "\n").encode())


def json_error(error: HTTPError) -> Response:
    """`{"error": message}` with the error's status (and Allow header)."""
    response = json_response({"error": error.message}, error.status)
    if error.allow:
        response.headers["Allow"] = error.allow
    return response


def text_error(error: HTTPError) -> Response:
    """The error's message as a line of text."""
    response = Response(error.status, f"{error.message}\n".encode(), "text/plain; charset=utf-8")
    if error.allow:
        response.headers["Allow"] = error.allow
    return response


def _nests_deeper(body: bytes, limit: int) -> bool:
    """Whether JSON `body` opens more than `limit` arrays and objects inside each other
    (json.loads would recurse that deep, and raise RecursionError past Python's limit)."""
    depth = 0
    for match in _JSON_STRUCTURE.finditer(body):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif token in (b"]", b"}"):
            depth -= 1
    return False
