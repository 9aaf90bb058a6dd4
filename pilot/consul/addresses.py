"""Which IP a service advertises: ContainerPilot's `interfaces` forms."""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
from collections.abc import Iterator

from pilot.config.errors import ConfigError
from pilot.config.interfaces import check_interface_spec, indexed_spec
from pilot.config.model import Config

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# rtnetlink, from linux/netlink.h, linux/rtnetlink.h and linux/if_addr.h
_NLMSGHDR = struct.Struct("=IHHII")  # length, type, flags, sequence, port id
_IFADDRMSG = struct.Struct("=BBBBI")  # family, prefix length, flags, scope, interface index
_RTATTR = struct.Struct("=HH")  # length, type
_NLMSG_ERROR, _NLMSG_DONE, _RTM_NEWADDR, _RTM_GETADDR = 2, 3, 20, 22
_NLM_F_REQUEST, _NLM_F_DUMP = 0x1, 0x300
_IFA_ADDRESS, _IFA_LOCAL = 1, 2
_IFA_F_DADFAILED = 0x08
_V4_MAPPED = bytes(10) + b"\xff\xff"  # ::ffff:0:0/96


def resolve_address(specs: tuple[str, ...] = ()) -> str:
    """The address to advertise: the first match of the first spec that matches anything.

    Without specs: the first non-loopback IPv4 address, else 127.0.0.1. "First" is
    ContainerPilot's order: interfaces by name, then addresses by value; link-local addresses
    are taken only when nothing else matches the spec (they are useless without a zone).

    Raises:
        ValueError: a spec is malformed (see `check_interface_spec`).
        LookupError: no spec matches any address of any interface.
    """
    for spec in specs:
        check_interface_spec(spec)
    addresses: list[tuple[str, IPAddress]] | None = None
    for spec in specs or ("inet",):
        if spec.startswith("static:"):
            return str(ipaddress.ip_address(spec.removeprefix("static:")))
        if addresses is None:
            addresses = sorted(interface_addresses(), key=_preference)
        indexed = indexed_spec(spec)
        if indexed is not None:
            # ContainerPilot's order, link-local included: `lo[0]` is ::1, before 127.0.0.1
            own = sorted(
                (address for name, address in addresses if name == indexed[0]), key=_sixteen
            )
            if indexed[1] < len(own):
                return str(own[indexed[1]])
            continue
        for name, address in addresses:
            if _matches(spec, name, address):
                return str(address)
    if not specs:
        return "127.0.0.1"
    have = ", ".join(f"{name} {address}" for name, address in addresses or []) or "none"
    raise LookupError(f"no interface matches {', '.join(specs)} (addresses: {have})")


def interface_addresses() -> list[tuple[str, IPAddress]]:
    """(interface name, address) for every IPv4 and IPv6 address of every interface, in the
    order the kernel lists them: IPv4 then IPv6, each by interface index.

    Raises:
        OSError: the kernel's routing socket (rtnetlink) could not be read.
    """
    names = dict(socket.if_nameindex())
    found: list[tuple[str, IPAddress]] = []
    for family, flags, index, attributes in _dump_addresses():
        raw = attributes.get(_IFA_LOCAL) or attributes.get(_IFA_ADDRESS)
        if raw is None or flags & _IFA_F_DADFAILED or index not in names:
            continue
        if family == socket.AF_INET:
            found.append((names[index], ipaddress.IPv4Address(raw)))
        elif family == socket.AF_INET6:
            found.append((names[index], ipaddress.IPv6Address(raw)))
    return found


def _preference(item: tuple[str, IPAddress]) -> tuple[bool, str, bytes]:
    """Link-local last, then ContainerPilot's sort: by interface name, then by the address as
    16 bytes (an IPv4 address mapped into IPv6)."""
    name, address = item
    return address.is_link_local, name, _sixteen(address)


def _sixteen(address: IPAddress) -> bytes:
    """The address as ContainerPilot sorts it: 16 bytes, an IPv4 address mapped into IPv6."""
    return address.packed if address.version == 6 else _V4_MAPPED + address.packed


def _matches(spec: str, name: str, address: IPAddress) -> bool:
    if "/" in spec:
        return address in ipaddress.ip_network(spec, strict=False)
    wanted, _, family = spec.partition(":")
    if wanted in ("inet", "inet6"):
        return address.version == (4 if wanted == "inet" else 6) and not address.is_loopback
    return name == wanted and address.version == (6 if family == "inet6" else 4)


def _dump_addresses() -> Iterator[tuple[int, int, int, dict[int, bytes]]]:
    """(family, flags, interface index, attributes) of each RTM_NEWADDR in an address dump."""
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE) as nl:
        request = _IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
        header = _NLMSGHDR.pack(
            _NLMSGHDR.size + len(request), _RTM_GETADDR, _NLM_F_REQUEST | _NLM_F_DUMP, 1, 0
        )
        nl.settimeout(5)  # the kernel answers at once; never hang PID 1 on it
        nl.sendall(header + request)
        while True:
            data = nl.recv(1 << 16)
            if not data:
                return
            offset = 0
            while offset + _NLMSGHDR.size <= len(data):
                length, kind, _, _, _ = _NLMSGHDR.unpack_from(data, offset)
                if length < _NLMSGHDR.size:
                    raise OSError(f"rtnetlink address dump: a message of {length} bytes")
                if kind == _NLMSG_DONE:
                    return
                if kind == _NLMSG_ERROR:
                    code = -struct.unpack_from("=i", data, offset + _NLMSGHDR.size)[0]
                    raise OSError(code, f"rtnetlink address dump: {os.strerror(code)}")
                if kind == _RTM_NEWADDR:
                    body = offset + _NLMSGHDR.size
                    family, _, flags, _, index = _IFADDRMSG.unpack_from(data, body)
                    attributes = _attributes(data, body + _IFADDRMSG.size, offset + length)
                    yield family, flags, index, attributes
                offset += _align(length)


def _attributes(data: bytes, start: int, end: int) -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    while start + _RTATTR.size <= end:
        length, kind = _RTATTR.unpack_from(data, start)
        if length < _RTATTR.size:
            break
        found[kind] = data[start + _RTATTR.size : start + length]
        start += _align(length)
    return found


def _align(length: int) -> int:
    return (length + 3) & ~3


def check_job_addresses(config: Config) -> None:
    """Resolve the address of every job that registers or is elected, before anything changes.

    Raises:
        ConfigError: at `jobs[i].interfaces` when no address matches.
    """
    for i, job in enumerate(config.jobs):
        if job.port is not None or job.interfaces or job.leader is not None:
            try:
                resolve_address(job.interfaces)
            except (LookupError, ValueError) as error:
                raise ConfigError(f"jobs[{i}].interfaces", str(error)) from None
