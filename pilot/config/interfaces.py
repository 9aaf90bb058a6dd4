"""The forms of a job's `interfaces` (ContainerPilot's): checked here, resolved by pilot/consul."""

from __future__ import annotations

import ipaddress

FORMS = "eth0, eth0:inet6, inet, inet6, a CIDR like 10.0.0.0/8, or static:IP"
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
    name, colon, family = spec.partition(":")
    if colon and family not in ("inet", "inet6"):
        raise ValueError(f"{spec!r}: what follows ':' must be inet or inet6")
    if colon and name in ("inet", "inet6"):
        raise ValueError(f"{spec!r}: {name} means any interface and takes no ':{family}'")
    if "[" in name:
        raise ValueError(f"{spec!r}: the eth0[N] form is not supported; use a CIDR instead")
    # The kernel's own rule for interface names (dev_valid_name).
    if (
        not 0 < len(name.encode()) < _IFNAMSIZ
        or name in (".", "..")
        or any(c.isspace() for c in name)
    ):
        raise ValueError(f"{spec!r} is not an interface spec ({FORMS})")
