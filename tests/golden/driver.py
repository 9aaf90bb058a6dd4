"""Runs the scenarios of `scenarios.py` against one Consul HTTP address (and DNS port) and
returns what came back, step by step, as plain JSON-able data."""

from __future__ import annotations

import json
import re
import threading
import time
from typing import Any

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import requests

# The response headers a client can rely on; everything else (Date, Vary…) is left out.
HEADERS = (
    "Content-Type",
    "X-Consul-Index",
    "X-Consul-KnownLeader",
    "X-Consul-LastContact",
    "X-Consul-Effective-Consistency",
    "X-Consul-ContentHash",
    "X-Consul-Default-Acl-Policy",
    "Allow",
)

PLACEHOLDER = re.compile(r"\{(\w+)([+-]\d+)?\}")


def substitute(value: Any, saved: dict[str, Any]) -> Any:
    """Fill `{name}` and `{name+N}` placeholders in strings (recursively) from saved values."""
    if isinstance(value, str):
        whole = PLACEHOLDER.fullmatch(value)
        if whole and not isinstance(saved.get(whole.group(1)), str):
            return _placeholder(whole, saved)
        return PLACEHOLDER.sub(lambda m: str(_placeholder(m, saved)), value)
    if isinstance(value, list):
        return [substitute(item, saved) for item in value]
    if isinstance(value, dict):
        return {key: substitute(item, saved) for key, item in value.items()}
    return value


def _placeholder(match: re.Match[str], saved: dict[str, Any]) -> Any:
    base = saved[match.group(1)]
    offset = match.group(2)
    return int(base) + int(offset) if offset else base


def dig(body: Any, path: str) -> Any:
    """`body` at a dotted path of keys and list positions, e.g. `0.Session`; None if absent."""
    for part in path.split("."):
        if isinstance(body, list) and part.lstrip("-").isdigit() and len(body) > int(part):
            body = body[int(part)]
        elif isinstance(body, dict) and part in body:
            body = body[part]
        else:
            return None
    return body


class Runner:
    """One scenario's run against one agent; `saved` holds the values steps capture."""

    def __init__(self, http: str, dns_port: int | None) -> None:
        self.url = f"http://{http}"
        self.dns_port = dns_port
        self.saved: dict[str, Any] = {}
        self.session = requests.Session()
        self.background: dict[str, threading.Thread] = {}
        self.results: dict[str, dict[str, Any]] = {}

    def run(self, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
        records = []
        for step in steps:
            record = self.step(step)
            if record is not None:
                records.append(record)
        return records

    def step(self, step: dict[str, Any]) -> dict[str, Any] | None:
        if "join" in step:
            self.background.pop(step["join"]).join(timeout=step.get("timeout", 60))
            return self.results.pop(step["join"])
        if "dns" in step:
            return {"name": step["name"], "dns": self.ask(substitute(step["dns"], self.saved))}
        if step.get("background"):
            thread = threading.Thread(target=self._background, args=(step,), daemon=True)
            self.background[step["name"]] = thread
            thread.start()
            self.wait_blocked(len(self.background))
            return None
        if "until" in step:
            return self.poll(step)
        return self.request(step)

    def wait_blocked(self, count: int) -> None:
        """Wait until the agent reports `count` blocked queries (Consul's own gauge
        `consul.rpc.queries_blocking`); agent-local blocking (`?hash=`) is not counted there,
        so after a short deadline the run goes on."""
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            metrics = self.session.get(self.url + "/v1/agent/metrics", timeout=5).json()
            gauges = {g["Name"]: g["Value"] for g in metrics.get("Gauges") or []}
            if gauges.get("consul.rpc.queries_blocking", 0) >= count:
                return
            time.sleep(0.05)

    def _background(self, step: dict[str, Any]) -> None:
        self.results[step["name"]] = self.request(step)

    def request(self, step: dict[str, Any]) -> dict[str, Any]:
        method = step.get("method", "GET")
        path = substitute(step["path"], self.saved)
        params = substitute(step.get("params", {}), self.saved)
        data: bytes | None = None
        if "json" in step:
            data = json.dumps(substitute(step["json"], self.saved)).encode()
        elif "data" in step:
            data = substitute(step["data"], self.saved).encode()
        started = time.monotonic()
        response = self.session.request(
            method, self.url + path, params=params, data=data, timeout=step.get("timeout", 30)
        )
        elapsed = time.monotonic() - started
        record: dict[str, Any] = {
            "name": step["name"],
            "request": {"method": method, "path": path, "params": params},
            "status": response.status_code,
            "headers": {h: response.headers[h] for h in HEADERS if h in response.headers},
            "body": parse_body(response),
        }
        if data is not None:
            record["request"]["body"] = data.decode(errors="replace")
        if step.get("timed"):
            record["elapsed"] = round(elapsed, 3)
        self.capture(step, record)
        return record

    def capture(self, step: dict[str, Any], record: dict[str, Any]) -> None:
        for name, where in step.get("save", {}).items():
            if where == "@index":
                self.saved[name] = int(record["headers"].get("X-Consul-Index", "0"))
            else:
                self.saved[name] = dig(record["body"], where)

    def poll(self, step: dict[str, Any]) -> dict[str, Any]:
        """Repeat the request until `until` holds; the record carries how long that took."""
        until = step["until"]
        started = time.monotonic()
        deadline = started + until.get("timeout", 30)
        while True:
            record = self.request(step)
            value = dig(record["body"], until["path"]) if until.get("path") else record["body"]
            if value == until["equals"]:
                break
            if time.monotonic() > deadline:
                record["timed_out"] = True
                break
            time.sleep(until.get("every", 0.2))
        record["elapsed"] = round(time.monotonic() - started, 3)
        return record

    def ask(self, query: dict[str, Any]) -> dict[str, Any]:
        assert self.dns_port is not None, "a DNS step needs a DNS port"
        message = dns.message.make_query(query["qname"], query.get("qtype", "A"))
        reply = dns.query.udp(message, "127.0.0.1", port=self.dns_port, timeout=5)
        return {
            "rcode": dns.rcode.to_text(reply.rcode()),
            "flags": sorted(dns.flags.to_text(reply.flags).split()),
            "answer": rrsets(reply.answer),
            "authority": rrsets(reply.authority),
            "additional": rrsets(reply.additional),
        }


def rrsets(sections: list[Any]) -> list[str]:
    lines = []
    for rrset in sections:
        for item in rrset:
            kind = dns.rdatatype.to_text(rrset.rdtype)
            lines.append(f"{rrset.name} {rrset.ttl} {kind} {item.to_text()}")
    return sorted(lines)


def parse_body(response: requests.Response) -> Any:
    text = response.text
    if "json" in response.headers.get("Content-Type", ""):
        try:
            return json.loads(text)
        except ValueError:
            return {"<unparsable json>": text}
    return text


def run_scenario(scenario: dict[str, Any], http: str, dns_port: int | None) -> list[dict[str, Any]]:
    """Every step of `scenario` against the agent at `http`, in order."""
    return Runner(http, dns_port).run(scenario["steps"])
