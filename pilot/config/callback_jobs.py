"""The job that keeps a callback's reverse forward up (`ssh -N -R`, restarted with backoff when
the connection drops), and the URL remote callers use."""

from __future__ import annotations

import math

from pilot.config.callback_model import Callback, split_destination
from pilot.config.model import Backoff, JobConfig

LOCAL_HOST = "127.0.0.1"  # where a `pilot up` service listens
# A dead relay or network is noticed after SERVER_ALIVE_INTERVAL * SERVER_ALIVE_COUNT seconds
# (a closed connection at once); an unreachable relay is given up on after CONNECT_TIMEOUT.
SERVER_ALIVE_INTERVAL, SERVER_ALIVE_COUNT, CONNECT_TIMEOUT = 5, 3, 10
# The first reconnection a second after a drop, at most 30 s apart while the relay is away.
BACKOFF = Backoff(initial=1.0, max=30.0, reset=30.0)


def callback_job(job: JobConfig, local_port: int, remote_port: int) -> JobConfig:
    """The job `<name>-callback`: ssh forwarding the relay's `remote_port` to `local_port` on
    loopback, for as long as the stack runs. ssh exits when the connection drops or the relay
    refuses the port (ExitOnForwardFailure), and pilot starts it again."""
    callback = job.callback
    assert callback is not None
    user, host, port = split_destination(callback.ssh)
    bind = "" if callback.bind is None else f"{_bracketed(callback.bind)}:"
    argv = [
        "ssh",
        "-N",
        "-o",
        "ExitOnForwardFailure=yes",
        "-o",
        "BatchMode=yes",
        *(arg for key, value in callback.options for arg in ("-o", f"{key}={value}")),
        "-o",
        f"ServerAliveInterval={SERVER_ALIVE_INTERVAL}",
        "-o",
        f"ServerAliveCountMax={SERVER_ALIVE_COUNT}",
        "-o",
        f"ConnectTimeout={CONNECT_TIMEOUT}",
        *(() if port is None else ("-p", str(port))),
        "-R",
        f"{bind}{remote_port}:{LOCAL_HOST}:{local_port}",
        "--",
        host if user is None else f"{user}@{host}",
    ]
    return JobConfig(
        name=f"{job.name}-callback",
        exec=tuple(argv),
        restarts=math.inf,
        backoff=BACKOFF,
    )


def callback_url(callback: Callback, remote_port: int) -> str:
    """The URL remote callers use: `url` with `{port}` replaced, or http://<relay>:<port>."""
    if callback.url is not None:
        return callback.url.replace("{port}", str(remote_port))
    return f"http://{_bracketed(relay_host(callback))}:{remote_port}"


def relay_host(callback: Callback) -> str:
    """The relay's host name or address (an IPv6 address without brackets)."""
    return split_destination(callback.ssh).host


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host
