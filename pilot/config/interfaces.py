"""The forms of a job's `interfaces` (ContainerPilot's): checked here, resolved by pilot/consul."""

from __future__ import annotations

import ipaddress
import re

FORMS = "eth0, eth0:inet6, eth0[N], inet, inet6, a CIDR like 10.0.0.0/8, or static:IP"
_INDEXED = re.compile(r"([^\[\]:]+)\[(\d+)\]")
_IFNAMSIZ = 16


def check_interface_spec(spec: str) -> None:
    """Check that `spec` is one of the `interfaces` forms.

    Raises:
        ValueError: a one-line message naming the spec and what is wrong with it.
    """
    if spec.startswith("static:"):
        try:
            ipaddress.ip_address(spec.removeprefix("static:"))
        except ValueError:
            raise ValueError(
                f"{spec!r}: static: needs an IP address, like static:10.0.0.5"
            ) from None
        return
    if "/" in spec:  # never part of an interface name
        try:
            ipaddress.ip_network(spec, strict=False)
        except ValueError:
            raise ValueError(f"{spec!r} is not a CIDR like 10.0.0.0/8 or fd00::/8") from None
        return
    indexed = _INDEXED.fullmatch(spec)
    name, colon, family = (indexed.group(1), "", "") if indexed else spec.partition(":")
    if colon and family not in ("inet", "inet6"):
        raise ValueError(f"{spec!r}: what follows ':' must be inet or inet6")
    if colon and name in ("inet", "inet6"):
        raise ValueError(f"{spec!r}: {name} means any interface and takes no ':{family}'")
    if "[" in name or "]" in name:
        raise ValueError(f"{spec!r}: the index form is eth0[N], N from 0")
    # The kernel's own rule for interface names (dev_valid_name).
    if (
        not 0 < len(name.encode()) < _IFNAMSIZ
        or name in (".", "..")
        or any(c.isspace() for c in name)
    ):
        raise ValueError(f"{spec!r} is not an interface spec ({FORMS})")


def indexed_spec(spec: str) -> tuple[str, int] | None:
    """(interface, N) of an `eth0[N]` spec (the Nth address of eth0, as ContainerPilot counts
    them: IPv4 before IPv6, each in byte order), else None."""
    match = _INDEXED.fullmatch(spec)
    return (match.group(1), int(match.group(2))) if match else None
