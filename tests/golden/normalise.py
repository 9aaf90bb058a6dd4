"""Normalise recorded steps so a real Consul's transcript and consul-dev's answers compare
exactly on what must match, and only on that.

What legitimately varies between two runs, and only that, is replaced:
- UUIDs (node, session and event IDs) by `<uuid#n>`, numbered by first appearance, so the same
  ID must come back in the same places;
- raft indexes (`CreateIndex`, `ModifyIndex`, `X-Consul-Index`) by their relation to what the
  same query answered before (`same`, `higher`, `lower`) and to the `?index=` asked for;
- raft indexes quoted in error texts (`current modify index 13`);
- content hashes (`X-Consul-ContentHash`, `ContentHash`: presence only);
- the DNS SOA serial (a clock);
- durations (`elapsed`) by a tolerance in `differences()`, not by normalising.
Everything else — status, error texts, field names, values, DNS records — must be equal.
"""

from __future__ import annotations

import re
from typing import Any

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
INDEX_KEYS = {"CreateIndex", "ModifyIndex"}
SOA = re.compile(r"(SOA ns\.consul\. hostmaster\.consul\. )\d+")
# Error texts that quote a raft index: the index varies, the text around it must not.
INDEX_IN_TEXT = re.compile(r"(current modify index |has a modify index of )\d+")
EXACT_HEADERS = (
    "Content-Type",
    "X-Consul-KnownLeader",
    "X-Consul-LastContact",
    "X-Consul-Effective-Consistency",
    "X-Consul-Default-Acl-Policy",
    "Allow",
)


class Normaliser:
    """Normalises the steps of one transcript, in order (IDs and indexes depend on history)."""

    def __init__(self) -> None:
        self.uuids: dict[str, str] = {}
        self.last_index: dict[str, int] = {}

    def uuid(self, match: re.Match[str]) -> str:
        return self.uuids.setdefault(match.group(0), f"<uuid#{len(self.uuids) + 1}>")

    def value(self, value: Any, key: str = "") -> Any:
        if key == "ContentHash" and value:
            return "<hash>"
        if isinstance(value, str):
            return INDEX_IN_TEXT.sub(r"\1<index>", UUID.sub(self.uuid, value))
        if isinstance(value, dict):
            return {UUID.sub(self.uuid, k): self.value(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if key in INDEX_KEYS and isinstance(value, int):
            return "<index>"
        return value

    def step(
        self, record: dict[str, Any], compare: str = "full", order: str = ""
    ) -> dict[str, Any]:
        if "dns" in record:
            dns = record["dns"]
            return {
                "dns": {
                    part: [SOA.sub(r"\1<serial>", line) for line in lines]
                    if isinstance(lines, list) and part != "flags"
                    else lines
                    for part, lines in dns.items()
                }
            }
        out: dict[str, Any] = {
            "status": record["status"],
            "headers": self.headers(record),
            "timed_out": record.get("timed_out", False),
        }
        if compare == "full":
            out["body"] = self.value(record["body"])
            if order and isinstance(out["body"], list):
                out["body"] = sorted(out["body"], key=repr)
        elif compare == "shape":
            out["body"] = shape(record["body"])
        return out

    def headers(self, record: dict[str, Any]) -> dict[str, Any]:
        headers = record["headers"]
        out: dict[str, Any] = {h: headers[h] for h in EXACT_HEADERS if h in headers}
        if "Allow" in out:
            out["Allow"] = ",".join(sorted(out["Allow"].split(",")))
        if "X-Consul-ContentHash" in headers:
            out["X-Consul-ContentHash"] = "<present>"
        if "X-Consul-Index" in headers:
            out["X-Consul-Index"] = self.index(record, int(headers["X-Consul-Index"]))
        return out

    def index(self, record: dict[str, Any], index: int) -> dict[str, str]:
        """How the index compares with the same query's last answer and with `?index=`."""
        request = record["request"]
        params = {k: v for k, v in request["params"].items() if k not in ("index", "wait")}
        query = request["method"] + " " + request["path"] + " " + repr(sorted(params.items()))
        relation: dict[str, str] = {"value": "0" if index == 0 else "nonzero"}
        if query in self.last_index:
            relation["vs_last"] = compare(index, self.last_index[query])
        self.last_index[query] = index
        asked = request["params"].get("index")
        if asked not in (None, "", "0", 0):
            relation["vs_asked"] = compare(index, int(asked))
        return relation


def compare(a: int, b: int) -> str:
    return "same" if a == b else "higher" if a > b else "lower"


def shape(value: Any) -> Any:
    """Keys and types only, for answers whose values are the agent's own (build, coordinates)."""
    if isinstance(value, dict):
        return {UUID.sub("<uuid>", k): shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "number"  # JSON has one number type: Go writes 0.0 as 0
    return type(value).__name__


def normalise(
    steps: list[dict[str, Any]], modes: dict[str, str], orders: dict[str, str]
) -> dict[str, dict[str, Any]]:
    """Each step's normal form by step name; `modes` gives a step's `compare` (default full),
    `orders` the field a step's list is ordered by (its entries then compare in any order)."""
    normaliser = Normaliser()
    return {
        s["name"]: normaliser.step(s, modes.get(s["name"], "full"), orders.get(s["name"], ""))
        for s in steps
    }


def order_differences(record: dict[str, Any], field: str) -> list[str]:
    """The list answer must be sorted by `field`, as Consul's index returns it."""
    body = record.get("body")
    if not isinstance(body, list):
        return []
    values = [entry.get(field) for entry in body if isinstance(entry, dict)]
    return [] if values == sorted(values) else [f"body: not ordered by {field}: {values}"]


def within(expected: float, actual: float) -> bool:
    """Durations agree within 1 s or 30 %: timers, jitter and polling, not orders of magnitude."""
    return abs(expected - actual) <= max(1.0, 0.3 * expected)


def differences(expected: Any, actual: Any, where: str = "") -> list[str]:
    """Human-readable differences between two normal forms, as `path: expected != actual`."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        found = []
        for key in sorted(set(expected) | set(actual), key=str):
            path = f"{where}.{key}" if where else str(key)
            if key not in actual:
                found.append(f"{path}: missing (expected {short(expected[key])})")
            elif key not in expected:
                found.append(f"{path}: unexpected {short(actual[key])}")
            else:
                found += differences(expected[key], actual[key], path)
        return found
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        found = []
        for n, (e, a) in enumerate(zip(expected, actual, strict=True)):
            found += differences(e, a, f"{where}[{n}]")
        return found
    if expected != actual:
        return [f"{where}: {short(expected)} != {short(actual)}"]
    return []


def short(value: Any, limit: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def elapsed_differences(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    if "elapsed" not in expected:
        return []
    if "elapsed" not in actual:
        return ["elapsed: missing"]
    if within(expected["elapsed"], actual["elapsed"]):
        return []
    return [f"elapsed: {expected['elapsed']}s != {actual['elapsed']}s"]
