"""HAR 1.2 (the HTTP Archive format browsers' developer tools import and export) of exchanges
recorded by the traffic monitor, from their JSON form. Fields HAR has no place for are kept
under names starting with `_`, as the format allows."""

from __future__ import annotations

import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit


def har_log(exchanges: list[dict[str, Any]], version: str) -> dict[str, Any]:
    """The HAR document of `exchanges` (each as the control socket gives it, whole)."""
    return {
        "log": {
            "version": "1.2",
            "creator": {"name": "pilot", "version": version},
            "pages": [],
            "entries": [_entry(exchange) for exchange in exchanges],
        }
    }


def _entry(exchange: dict[str, Any]) -> dict[str, Any]:
    request, response = exchange["request"], exchange["response"]
    version = f"HTTP/{exchange['http_version']}"
    duration = exchange["duration_ms"]
    started = datetime.datetime.fromtimestamp(exchange["time"], datetime.UTC)
    entry: dict[str, Any] = {
        "startedDateTime": started.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "time": duration if duration is not None else 0,
        "request": {
            "method": exchange["method"],
            "url": _absolute_url(exchange),
            "httpVersion": version,
            "cookies": [],
            "headers": _headers(request["headers"]),
            "queryString": [
                {"name": name, "value": value}
                for name, value in parse_qsl(urlsplit(exchange["url"]).query, True)
            ],
            "headersSize": -1,
            "bodySize": request["body"]["size"],
        },
        "response": {
            "status": exchange["status"] or 0,
            "statusText": exchange["reason"],
            "httpVersion": version,
            "cookies": [],
            "headers": _headers(response["headers"]),
            "content": _content(response),
            "redirectURL": _header(response["headers"], "location") or "",
            "headersSize": -1,
            "bodySize": response["body"]["size"],
        },
        "cache": {},
        "timings": {"send": 0, "wait": duration if duration is not None else -1, "receive": 0},
        "_id": exchange["id"],
        "_service": exchange["service"],
        "_client": exchange["client"],
    }
    if request["body"]["size"]:
        entry["request"]["postData"] = {
            "mimeType": _header(request["headers"], "content-type") or "",
            **_text(request["body"]),
        }
    if exchange.get("client_service"):
        entry["_clientService"] = exchange["client_service"]
    if exchange.get("upgrade"):
        entry["_upgrade"] = exchange["upgrade"]
    if exchange.get("error"):
        entry["_error"] = exchange["error"]
    cut = [
        name
        for name, part in (("request", request), ("response", response))
        if part["body"]["truncated"]
    ]
    if cut:
        entry["comment"] = f"{' and '.join(cut)} body truncated by pilot's body_limit"
    return entry


def _absolute_url(exchange: dict[str, Any]) -> str:
    """The request's URL made absolute with its Host header (HAR wants absolute URLs)."""
    url = str(exchange["url"])
    if "://" in url:
        return url
    host = _header(exchange["request"]["headers"], "host") or exchange["service"]
    return f"http://{host}{url}"


def _headers(pairs: list[list[str]]) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in pairs]


def _header(pairs: list[list[str]], name: str) -> str | None:
    return next((value for key, value in pairs if key.lower() == name), None)


def _content(response: dict[str, Any]) -> dict[str, Any]:
    return {
        "size": response["body"]["size"],
        "mimeType": _header(response["headers"], "content-type") or "",
        **_text(response["body"]),
    }


def _text(body: dict[str, Any]) -> dict[str, Any]:
    """HAR's `text` (and `encoding`) of a recorded body."""
    if "text" in body:
        return {"text": body["text"]}
    if "base64" in body:
        return {"text": body["base64"], "encoding": "base64"}
    return {}
