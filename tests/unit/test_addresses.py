"""Which address a service advertises, from ContainerPilot's interface specs."""

from __future__ import annotations

import pytest

from pilot.discovery.addresses import check_interface_spec, interface_addresses, resolve_address


@pytest.mark.parametrize(
    "spec",
    [
        "eth0",
        "eth0:inet6",
        "lo:inet",
        "inet",
        "inet6",
        "10.0.0.0/8",
        "static:192.168.1.10",
        "static:::1",
    ],
)
def test_valid_specs(spec: str) -> None:
    """Every documented form is accepted."""
    check_interface_spec(spec)


@pytest.mark.parametrize("spec", ["eth0:ipx", "10.0.0.0/99", "static:nope", "", "a b"])
def test_invalid_specs(spec: str) -> None:
    """Malformed specs are refused with a message."""
    with pytest.raises(ValueError):
        check_interface_spec(spec)


def test_resolution_in_order() -> None:
    """Specs are tried in order; static, interface and CIDR forms resolve; no match fails."""
    assert resolve_address(("static:10.1.2.3",)) == "10.1.2.3"
    assert resolve_address(("lo",)) == "127.0.0.1"
    assert resolve_address(("nosuch0", "127.0.0.0/8")) == "127.0.0.1"
    with pytest.raises(LookupError):
        resolve_address(("nosuch0",))


def test_default_is_first_non_loopback_ipv4_or_loopback() -> None:
    """Without specs the first non-loopback IPv4 is used, else 127.0.0.1."""
    candidates = [str(a) for _, a in interface_addresses() if a.version == 4 and not a.is_loopback]
    assert resolve_address() == (candidates[0] if candidates else "127.0.0.1")
    assert ("lo", __import__("ipaddress").ip_address("127.0.0.1")) in interface_addresses()
