"""The control socket's endpoints and their queries, shared by the server and `pilot ctl`.
ContainerPilot's v3 paths keep their meaning so existing scripts keep working.

A query is parsed once into a frozen dataclass; a bad parameter is a QueryError that names it
(the server answers 400): `LogsQuery.parse("n=x")` → `n: 'x' is not a number`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, TypeVar
from urllib.parse import parse_qs, quote

LONGEST_WAIT = 60.0  # seconds a `pilot logs -f` or `pilot traffic -f` poll may be held
_N = TypeVar("_N", int, float)


class QueryError(ValueError):
    """A bad query parameter; the message names it."""


class Route(NamedTuple):
    method: str
    path: str


PING = Route("GET", "/v3/ping")
PING_ALIASES = ("/v1/ping",)
STATUS = Route("GET", "/v1/status")
PUTENV = Route("POST", "/v3/environ")
RELOAD = Route("POST", "/v3/reload")
PUTMETRIC = Route("POST", "/v3/metric")
MAINTENANCE_ON = Route("POST", "/v3/maintenance/enable")  # ?reason=TEXT
MAINTENANCE_OFF = Route("POST", "/v3/maintenance/disable")
LOGS = Route("GET", "/v1/logs")  # LogsQuery
TRAFFIC = Route("GET", "/v1/traffic")  # TrafficQuery
EXCHANGE_PREFIX = "/v1/traffic/"  # + an exchange's number
JOBS_PREFIX = "/v1/jobs/"  # + a job's name, "/", an action
JOB_ACTIONS = ("restart", "stop", "start", "signal", "rebuild")


def job_action(job: str, action: str) -> Route:
    """The endpoint of `action` on job `job`: POST /v1/jobs/<job>/<action>."""
    return Route("POST", f"{JOBS_PREFIX}{quote(job, safe='')}/{action}")


def parse_job_action(path: str) -> tuple[str, str] | None:
    """(job, action) of a /v1/jobs/<job>/<action> path, else None."""
    parts = path.split("/")
    if len(parts) == 5 and parts[1:3] == ["v1", "jobs"]:
        return parts[3], parts[4]
    return None


@dataclass(frozen=True)
class MaintenanceQuery:
    """?reason=TEXT, shown in Consul."""

    reason: str | None = None

    @classmethod
    def parse(cls, query: str) -> MaintenanceQuery:
        return cls(parse_qs(query).get("reason", [None])[0])


@dataclass(frozen=True)
class LogsQuery:
    """?job=NAME (repeated; all jobs when none) &after=SEQ &n=LAST &since=EPOCH &wait=SECONDS"""

    jobs: tuple[str, ...] = ()
    after: int = 0
    last: int | None = None
    since: float | None = None
    wait: float = 0.0

    @classmethod
    def parse(cls, query: str) -> LogsQuery:
        """Raises QueryError naming a bad parameter."""
        values = parse_qs(query)
        return cls(
            tuple(values.get("job", [])),
            _number(values, "after", int) or 0,
            _number(values, "n", int),
            _number(values, "since", float),
            min(_number(values, "wait", float) or 0.0, LONGEST_WAIT),
        )


@dataclass(frozen=True)
class TrafficQuery:
    """?service=NAME (repeated; all when none) &after=ID &n=LAST &wait=SECONDS &whole=1"""

    services: tuple[str, ...] = ()
    after: int = 0
    last: int | None = None
    wait: float = 0.0
    whole: bool = False  # whole exchanges, not summaries

    @classmethod
    def parse(cls, query: str) -> TrafficQuery:
        """Raises QueryError naming a bad parameter."""
        values = parse_qs(query)
        return cls(
            tuple(values.get("service", [])),
            _number(values, "after", int) or 0,
            _number(values, "n", int),
            min(_number(values, "wait", float) or 0.0, LONGEST_WAIT),
            values.get("whole", ["0"])[0] not in ("0", ""),
        )


def _number(values: dict[str, list[str]], key: str, kind: type[_N]) -> _N | None:
    """The query parameter `key` as a number from 0, or None when absent."""
    raw = values.get(key, [None])[0]
    if raw is None:
        return None
    try:
        value = kind(raw)
    except ValueError:
        raise QueryError(f"{key}: {raw!r} is not a number") from None
    if not (math.isfinite(value) and 0 <= value < 1e12):
        raise QueryError(f"{key}: out of range")
    return value
