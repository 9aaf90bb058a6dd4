"""Which IP a service advertises: ContainerPilot's `interfaces` forms."""

from __future__ import annotations

import fcntl
import ipaddress
import socket
import struct

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_SIOCGIFADDR = 0x8915


def check_interface_spec(spec: str) -> None:
    """Raise ValueError when `spec` is not eth0, eth0:inet6, inet, inet6, a CIDR or static:IP."""
    if spec.startswith("static:"):
        try:
            ipaddress.ip_address(spec.removeprefix("static:"))
        except ValueError:
            raise ValueError(f"{spec!r}: static: needs an IP address") from None
        return
    if "/" in spec:
        try:
            ipaddress.ip_network(spec, strict=False)
        except ValueError:
            raise ValueError(f"{spec!r} is not a CIDR like 10.0.0.0/8") from None
        return
    name, _, family = spec.partition(":")
    if (
        not name
        or family not in ("", "inet", "inet6")
        or not name.replace("-", "").replace(".", "").replace("_", "").isalnum()
    ):
        raise ValueError(
            f"{spec!r} is not an interface (eth0, eth0:inet6, inet, inet6, a CIDR or static:IP)"
        )


def interface_addresses() -> list[tuple[str, IPAddress]]:
    """(interface, address) for every IPv4 and IPv6 address of every interface."""
    found: list[tuple[str, IPAddress]] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for _, name in socket.if_nameindex():
            request = struct.pack("256s", name.encode()[:15])
            try:
                answer = fcntl.ioctl(probe.fileno(), _SIOCGIFADDR, request)
            except OSError:
                continue  # no IPv4 address on this interface
            found.append((name, ipaddress.IPv4Address(answer[20:24])))
    try:
        with open("/proc/net/if_inet6", encoding="ascii") as table:
            for line in table:
                fields = line.split()
                if len(fields) >= 6:
                    found.append((fields[5], ipaddress.IPv6Address(bytes.fromhex(fields[0]))))
    except OSError:
        pass  # no IPv6 in this kernel or namespace
    return found


def resolve_address(specs: tuple[str, ...] = ()) -> str:
    """The first address a spec matches, in spec order; default: first non-loopback IPv4,
    else 127.0.0.1.

    Raises:
        LookupError: no spec matches any address.
    """
    addresses = interface_addresses()
    if not specs:
        for _, address in addresses:
            if address.version == 4 and not address.is_loopback:
                return str(address)
        return "127.0.0.1"
    for spec in specs:
        match = _match(spec, addresses)
        if match is not None:
            return match
    raise LookupError(f"no interface matches {', '.join(specs)}")


def _match(spec: str, addresses: list[tuple[str, IPAddress]]) -> str | None:
    if spec.startswith("static:"):
        return spec.removeprefix("static:")
    if "/" in spec:
        network = ipaddress.ip_network(spec, strict=False)
        return next((str(a) for _, a in addresses if a in network), None)
    name, _, family = spec.partition(":")
    if name in ("inet", "inet6") and not family:
        version = 4 if name == "inet" else 6
        return next(
            (
                str(a)
                for _, a in _preferred(addresses)
                if a.version == version and not a.is_loopback
            ),
            None,
        )
    version = 6 if family == "inet6" else 4
    return next(
        (str(a) for iface, a in _preferred(addresses) if iface == name and a.version == version),
        None,
    )


def _preferred(addresses: list[tuple[str, IPAddress]]) -> list[tuple[str, IPAddress]]:
    """Link-local IPv6 addresses last: they are useless without a zone."""
    return sorted(addresses, key=lambda item: item[1].version == 6 and item[1].is_link_local)
