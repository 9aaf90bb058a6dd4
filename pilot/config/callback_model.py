"""A service's callback URL (`pilot up`): an OpenSSH reverse forward from a relay's port to the
service, so that a remote caller (a webhook, an OAuth redirect) reaches a laptop's service."""

from __future__ import annotations

import ipaddress
import re
from typing import NamedTuple

from pilot.config.errors import ConfigError
from pilot.config.frozen import section
from pilot.config.kinds import Json, Kind, Str, Text, Url, setting
from pilot.config.ports_kind import AUTO_PORT, Port
from pilot.config.sections import MapOf

_HOST_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")  # what ssh takes for a host name
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")
# Options pilot sets itself, and ssh takes the first value given of each: a user's could not
# win, and one that cleared forwardings or asked for a password would break the callback.
PILOT_OPTIONS = frozenset({"exitonforwardfailure", "batchmode", "clearallforwardings"})


class Destination(NamedTuple):
    """Where ssh connects: `host` bare (an IPv6 address without brackets); `user` and `port`
    None when ssh's defaults (or ~/.ssh/config) apply."""

    user: str | None
    host: str
    port: int | None


def split_destination(text: str) -> Destination:
    """`user@host`, `host`, `user@::1`, `user@[::1]` or `ssh://user@host:port` taken apart.

    Raises:
        ValueError: with what is wrong, when ssh could not use it.
    """
    if any(c.isspace() for c in text):
        raise ValueError("must not contain spaces")
    uri = text.startswith("ssh://")
    rest = text.removeprefix("ssh://").removesuffix("/") if uri else text
    user, at, hostport = rest.rpartition("@")
    if at and (not user or user.startswith("-")):
        raise ValueError(f"{user!r} is not a user name")
    host, port = _split_port(hostport) if uri else (hostport, None)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        if not _ipv6(host):
            raise ValueError(f"{host!r} is not an IPv6 address")
    elif ":" in host:
        if uri:
            raise ValueError('an IPv6 address goes in brackets: "ssh://user@[2001:db8::1]:22"')
        if not _ipv6(host):
            hint = '(to give a port write "ssh://user@host:port")'
            raise ValueError(f"{host!r} is not a host name or address {hint}")
    elif not _HOST_NAME.fullmatch(host):
        raise ValueError(f"{host!r} is not a host name or address")
    return Destination(user or None, host, port)


def _split_port(hostport: str) -> tuple[str, int | None]:
    """`host:port`, `[v6]:port`, `host` or `[v6]` of an ssh:// URI."""
    head, colon, tail = hostport.rpartition(":")
    if not colon or (hostport.startswith("[") and not head.endswith("]")):
        return hostport, None
    if not tail.isdigit() or not 0 < int(tail) < 65536:
        raise ValueError(f"{tail!r} is not a port")
    return head, int(tail)


def _ipv6(host: str) -> bool:
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        return False
    return True


class SshDestination(Kind):
    """ssh's destination: `user@host` or `ssh://user@host:port` (the user is optional).
    Nothing stands in for a wrong one (no placeholder): there is no callback to check without."""

    def parse(self, value: Json, place: str) -> str:
        text = Str().parse(value, place)
        try:
            split_destination(text)
        except ValueError as error:
            raise ConfigError(place, str(error)) from None
        return text

    def schema(self) -> dict[str, Json]:
        return {"type": "string"}


class BindAddress(Str):
    """The relay's address the forwarded port listens on: an IP address, a name, or "*"."""

    def parse(self, value: Json, place: str) -> str:
        text = super().parse(value, place)
        if text != "*" and not _HOST_NAME.fullmatch(text) and not _ipv6(text):
            raise ConfigError(place, f'must be an IP address, a host name or "*", not {text!r}')
        return text


class CallbackUrl(Url):
    """The URL remote callers use, `{port}` standing for the relay's port."""

    def parse(self, value: Json, place: str) -> str:
        text = super().parse(value, place)
        if not _SCHEME.fullmatch(text):
            raise ConfigError(
                place, f'must be a URL like "https://relay.example.com", not {text!r}'
            )
        return text


class SshOptionName(Str):
    """The name of an ssh_config option (letters only), one that pilot does not set itself."""

    def parse(self, value: Json, place: str) -> str:
        name = super().parse(value, place)
        if not name.isascii() or not name.isalpha():
            raise ConfigError(place, "is not an ssh option name (letters only, as in ssh_config)")
        if name.lower() in PILOT_OPTIONS:
            raise ConfigError(place, "is set by pilot, which needs it")
        return name


@section
class Callback:
    """Reach the job from outside through a reverse forward (`ssh -R`) from a relay's port,
    which pilot runs and restarts as the job `<name>-callback`."""

    ssh: str = setting(
        SshDestination(), 'the relay as ssh takes it: "user@host" or "ssh://user@host:port"'
    )
    port: int = setting(
        Port(),
        'port the relay listens on ("auto": picked once and kept in .pilot/ports.json)',
        AUTO_PORT,
    )
    url: str | None = setting(
        CallbackUrl(),
        "the URL remote callers use, {port} replaced by the relay's port "
        "(default: http://<relay host>:<port>)",
        None,
    )
    bind: str | None = setting(
        BindAddress(),
        "address on the relay the port listens on; needs GatewayPorts clientspecified in the "
        "relay's sshd_config (default: the relay's loopback)",
        None,
    )
    options: tuple[tuple[str, str], ...] = setting(
        MapOf(Text(), key_kind=SshOptionName()),
        "ssh options, each passed as -o Key=Value (IdentityFile, UserKnownHostsFile, ...)",
        (),
    )
