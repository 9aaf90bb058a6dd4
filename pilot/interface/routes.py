"""The control socket's endpoints, shared by the server and `pilot ctl`. ContainerPilot's v3
paths keep their meaning so existing scripts keep working."""

from __future__ import annotations

from urllib.parse import quote

PING = ("GET", "/v3/ping")
STATUS = ("GET", "/v1/status")
PUTENV = ("POST", "/v3/environ")
RELOAD = ("POST", "/v3/reload")
PUTMETRIC = ("POST", "/v3/metric")
MAINTENANCE_ON = ("POST", "/v3/maintenance/enable")
MAINTENANCE_OFF = ("POST", "/v3/maintenance/disable")
LOGS = ("GET", "/v1/logs")  # ?job=NAME (repeated), n, since (seconds ago), after, wait
TRAFFIC = ("GET", "/v1/traffic")  # ?service=NAME (repeated), n, after, wait, whole
EXCHANGE_PREFIX = "/v1/traffic/"  # + an exchange's number
JOB_ACTIONS = ("restart", "stop", "start", "signal", "rebuild")
PING_ALIASES = ("/v1/ping",)


def job_action(job: str, action: str) -> tuple[str, str]:
    """The endpoint of `action` on job `job`: POST /v1/jobs/<job>/<action>."""
    return "POST", f"/v1/jobs/{quote(job, safe='')}/{action}"


def parse_job_action(path: str) -> tuple[str, str] | None:
    """(job, action) of a /v1/jobs/<job>/<action> path, else None."""
    parts = path.split("/")
    if len(parts) == 5 and parts[1:3] == ["v1", "jobs"]:
        return parts[3], parts[4]
    return None
