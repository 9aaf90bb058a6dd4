"""Routing as Consul's Go server does it: ServeMux patterns, redirects, 404, OPTIONS and 405."""

from __future__ import annotations

from collections.abc import Callable

from pilot.devconsul.routes.request import Request, Response
from pilot.devconsul.state.errors import ConsulError

Route = Callable[[Request], Response]

UI_DISABLED = (
    "Consul Agent: UI disabled. To enable, set ui_config.enabled=true in the agent "
    "configuration and restart."
)


def clean_path(path: str) -> str:
    """Go's ServeMux cleanPath: no empty, "." or ".." elements; a trailing slash is kept."""
    parts: list[str] = []
    for part in path.split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    cleaned = "/" + "/".join(parts)
    if path.endswith("/") and cleaned != "/":
        cleaned += "/"
    return cleaned


class Router:
    """Patterns ending in "/" match a subtree, others one path; the longest pattern wins."""

    def __init__(self, datacenter: str = "dc1") -> None:
        self.datacenter = datacenter
        self._routes: dict[str, tuple[tuple[str, ...], Route]] = {}

    def add(self, pattern: str, methods: tuple[str, ...], route: Route) -> None:
        """Serve `pattern` with `route` for `methods`; others get a 405."""
        self._routes[pattern] = (methods, route)

    def endpoints(self) -> list[tuple[str, tuple[str, ...]]]:
        """Every pattern served, with its methods, in the order added."""
        return [(pattern, methods) for pattern, (methods, _) in self._routes.items()]

    def dispatch(self, request: Request, query: str) -> tuple[Response, bool]:
        """The answer to `request`, and whether it went through Consul's endpoint wrapper
        (which adds its headers); `query` is the raw query string, for redirects."""
        suffix = "?" + query if query else ""
        cleaned = clean_path(request.path)
        if cleaned != request.path:
            return _redirect(cleaned + suffix), False
        pattern = self._match(request.path)
        if pattern is None:
            if request.path + "/" in self._routes:
                return _redirect(request.path + "/" + suffix), False
            return _index(request.path), False
        methods, route = self._routes[pattern]
        allow = ",".join(("OPTIONS", *methods))
        if request.method == "OPTIONS":
            return Response(headers={"Allow": allow}), True
        if request.method not in methods:
            raise ConsulError(405, f"method {request.method} not allowed", allow=allow)
        request.rest = request.path[len(pattern) :] if pattern.endswith("/") else ""
        request.datacenter = self.datacenter
        return route(request), True

    def _match(self, path: str) -> str | None:
        if path in self._routes:
            return path
        subtrees = [p for p in self._routes if p.endswith("/") and path.startswith(p)]
        return max(subtrees, key=len) if subtrees else None


def _redirect(location: str) -> Response:
    return Response(301, headers={"Location": location})


def _index(path: str) -> Response:
    if path == "/":
        return Response(raw=UI_DISABLED.encode())
    if "/v1/" in path:
        return Response(404, raw=b"Invalid URL path: not a recognized HTTP API endpoint\n")
    text = "Invalid URL path: if attempting to use the HTTP API, ensure the path starts with '/v1/'"
    return Response(404, raw=(text + "\n").encode())
