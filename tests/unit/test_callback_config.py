"""A service's `callback` (pilot up): its settings and their errors, the ssh job that keeps the
reverse forward up, and the URL remote callers are given."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from pilot.config.callback_jobs import callback_job, callback_url, relay_host
from pilot.config.callback_model import Destination, split_destination
from pilot.config.errors import ConfigError
from pilot.config.load import parse_config
from pilot.config.model import Config

KEPT = {"hook": 40001, "hook@callback": 24000, "@consul": 40002, "@dns": 40003}


def up(callback: dict[str, Any]) -> Config:
    """A stack of one service `hook` with `callback`, read as `pilot up` reads it."""
    text = json.dumps(
        {"jobs": [{"name": "hook", "exec": "hook", "port": "auto", "callback": callback}]}
    )
    return parse_config(text, {}, "/src/pilot.json5", up=lambda key, _place: KEPT[key])


def errors(callback: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        up(callback)
    return [str(error) for error in caught.value.errors]


def test_errors_name_the_setting() -> None:
    """Each wrong setting of a callback is reported at its place, all in one pass."""
    assert errors(
        {
            "ssh": "root@relay.example.com:2222",
            "port": 70000,
            "url": "relay.example.com",
            "bind": "0.0.0.0/0",
            "options": {"Identity-File": "key", "batchmode": "no", "IdentityFile": ["a"]},
        }
    ) == [
        "jobs[0].callback.ssh: 'relay.example.com:2222' is not a host name or address "
        '(to give a port write "ssh://user@host:port")',
        'jobs[0].callback.port: must be at most 65535 (or "auto")',
        'jobs[0].callback.url: must be a URL like "https://relay.example.com", '
        "not 'relay.example.com'",
        "jobs[0].callback.bind: must be an IP address, a host name or \"*\", not '0.0.0.0/0'",
        "jobs[0].callback.options.Identity-File: is not an ssh option name "
        "(letters only, as in ssh_config)",
        "jobs[0].callback.options.batchmode: is set by pilot, which needs it",
        "jobs[0].callback.options.IdentityFile: must be a string or a number, not a list",
    ]
    assert errors({}) == ["jobs[0].callback.ssh: is required"]


def test_a_bad_option_name_alone_is_found() -> None:
    """Option names are strings, but a map's check of all its strings at once does not stand
    in for the option name's own check."""
    assert errors({"ssh": "root@relay", "options": {"BatchMode": "no"}}) == [
        "jobs[0].callback.options.BatchMode: is set by pilot, which needs it"
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-oProxyCommand=sh", "'-oProxyCommand=sh' is not a host name or address"),
        ("@relay", "'' is not a user name"),
        ("root@relay example", "must not contain spaces"),
        ("ssh://root@relay:http", "'http' is not a port"),
        ("ssh://root@relay:0", "'0' is not a port"),
        (
            "ssh://root@2001:db8::1",
            'an IPv6 address goes in brackets: "ssh://user@[2001:db8::1]:22"',
        ),
        ("root@[relay]", "'relay' is not an IPv6 address"),
        ("ssh://root@relay/path", "'relay/path' is not a host name or address"),
    ],
)
def test_destinations_ssh_could_not_use_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        split_destination(text)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("root@relay.example.com", Destination("root", "relay.example.com", None)),
        ("relay", Destination(None, "relay", None)),
        ("ssh://tunnel@relay.example.com:2222", Destination("tunnel", "relay.example.com", 2222)),
        ("ssh://relay.example.com/", Destination(None, "relay.example.com", None)),
        ("ssh://me@[2001:db8::1]:2200", Destination("me", "2001:db8::1", 2200)),
        ("ssh://[2001:db8::1]", Destination(None, "2001:db8::1", None)),
        ("me@2001:db8::1", Destination("me", "2001:db8::1", None)),
        ("me@[2001:db8::1]", Destination("me", "2001:db8::1", None)),
    ],
)
def test_destinations_are_taken_apart(text: str, parts: Destination) -> None:
    assert split_destination(text) == parts


def test_the_ssh_job_forwards_the_relays_port_to_the_service() -> None:
    """`pilot up` adds `hook-callback`: ssh with the forward, the user's options before pilot's
    tunable ones (ssh takes the first value of an option), restarted without limit."""
    config = up(
        {
            "ssh": "ssh://tunnel@[2001:db8::1]:2222",
            "bind": "::",
            "options": {"ServerAliveInterval": 30, "IdentityFile": "~/.ssh/relay"},
        }
    )
    hook, forward = config.jobs
    assert forward.name == "hook-callback" and forward.port is None
    assert forward.argv == (
        "ssh",
        "-N",
        "-o",
        "ExitOnForwardFailure=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "IdentityFile=~/.ssh/relay",
        "-o",
        "ServerAliveInterval=30",
        "-o",
        "ServerAliveInterval=5",
        "-o",
        "ServerAliveCountMax=3",
        "-o",
        "ConnectTimeout=10",
        "-p",
        "2222",
        "-R",
        "[::]:24000:127.0.0.1:40001",
        "--",
        "tunnel@2001:db8::1",
    )
    assert forward.max_restarts == math.inf and forward.backoff.initial == 1.0
    assert hook.callback is not None and hook.callback.port == 24000
    assert callback_job(hook, 40001, 24000) == forward


def test_a_fixed_relay_port_is_used_as_it_is() -> None:
    [hook, forward] = up({"ssh": "relay", "port": 8022}).jobs
    assert forward.argv[-4:] == ("-R", "8022:127.0.0.1:40001", "--", "relay")
    assert hook.callback is not None and hook.callback.port == 8022


def test_the_url_is_the_relays_unless_given() -> None:
    """http://<relay>:<port> by default (an IPv6 relay in brackets); `url` with `{port}`
    replaced otherwise."""
    [hook, _] = up({"ssh": "root@relay.example.com"}).jobs
    assert hook.callback is not None and relay_host(hook.callback) == "relay.example.com"
    assert callback_url(hook.callback, 24000) == "http://relay.example.com:24000"
    [hook, _] = up({"ssh": "ssh://root@[2001:db8::1]:22"}).jobs
    assert hook.callback is not None
    assert callback_url(hook.callback, 24000) == "http://[2001:db8::1]:24000"
    [hook, _] = up({"ssh": "relay", "url": "https://hooks.example.com/{port}/in"}).jobs
    assert hook.callback is not None
    assert callback_url(hook.callback, 24000) == "https://hooks.example.com/24000/in"
