"""Which address a service advertises, from ContainerPilot's interface specs."""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import textwrap
from typing import Any

import pytest

from pilot.consul.addresses import check_interface_spec, interface_addresses, resolve_address
from tests.helpers import PYTHON, REPO, require, scaled

# Runs inside a new network namespace: sets it up with `ip`, then answers each query.
NAMESPACE_SCRIPT = textwrap.dedent("""
    import json, subprocess, sys
    from pilot.consul.addresses import interface_addresses, resolve_address
    for command in json.loads(sys.argv[1]):
        subprocess.run(command.split(), check=True, capture_output=True)
    answers = {}
    for specs in json.loads(sys.argv[2]):
        try:
            answers[",".join(specs)] = resolve_address(tuple(specs))
        except LookupError:
            answers[",".join(specs)] = "LookupError"
    answers["addresses"] = [[name, str(address)] for name, address in interface_addresses()]
    print(json.dumps(answers))
""")

# eth1 is created first, so the kernel lists it before eth0. 169.254.3.3 and fe80::99 are
# link-local; 10.1.0.6 is a secondary address of 10.1.0.5's network.
TWO_INTERFACES = [
    "ip link set lo up",
    "ip link add eth1 type bridge",
    "ip link add eth0 type bridge",
    "ip link set eth0 addrgenmode none",
    "ip link set eth1 addrgenmode none",
    "ip addr add 10.1.0.5/24 dev eth0",
    "ip addr add 10.2.0.7/24 dev eth0",
    "ip addr add 10.1.0.6/24 dev eth0",
    "ip addr add fe80::99/64 dev eth0 nodad",
    "ip addr add fd00:1::5/64 dev eth0 nodad",
    "ip addr add 169.254.3.3/16 dev eth1",
    "ip addr add 192.168.7.1/24 dev eth1",
    "ip addr add fe80::7/64 dev eth1 nodad",
    "ip link set eth0 up",
    "ip link set eth1 up",
]


def in_network_namespace(setup: list[str], queries: list[list[str]]) -> dict[str, Any]:
    """Answers to `queries` (spec lists) in a new network namespace set up by `setup`."""
    require(os.geteuid() == 0, "a new network namespace needs root")
    require(shutil.which("unshare") is not None, "unshare (util-linux) is missing")
    require(shutil.which("ip") is not None, "ip (iproute2) is missing")
    done = subprocess.run(
        [
            "unshare",
            "--net",
            PYTHON,
            "-c",
            NAMESPACE_SCRIPT,
            json.dumps(setup),
            json.dumps(queries),
        ],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=scaled(15),
    )
    require(done.returncode == 0, f"cannot set up a network namespace: {done.stderr.strip()}")
    return dict(json.loads(done.stdout))


@pytest.mark.parametrize(
    "spec",
    [
        "eth0",
        "eth0:inet",
        "eth0:inet6",
        "eth0.100",
        "br-1a2b3c4d5e6f",
        "inet",
        "inet6",
        "10.0.0.0/8",
        "10.1.2.3/8",
        "fd00::/8",
        "static:192.168.1.10",
        "static:::1",
        "eth0[1]",
    ],
)
def test_valid_specs(spec: str) -> None:
    """Every documented form is accepted, and interface names as the kernel allows them."""
    check_interface_spec(spec)


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("eth0:ipx", "must be inet or inet6"),
        ("inet:inet6", "any interface"),
        ("eth0[x]", "the index form is eth0[N]"),
        ("10.0.0.0/99", "not a CIDR"),
        ("static:nope", "needs an IP address"),
        ("static:10.0.0.0/8", "needs an IP address"),
        ("", "not an interface spec"),
        ("a b", "not an interface spec"),
        ("a-name-too-long0", "not an interface spec"),
    ],
)
def test_invalid_specs(spec: str, reason: str) -> None:
    """A malformed spec is refused with one line naming it and what is wrong."""
    with pytest.raises(ValueError) as error:
        check_interface_spec(spec)
    message = str(error.value)
    assert repr(spec) in message and reason in message and "\n" not in message


def test_indexed_spec_counts_as_containerpilot_does() -> None:
    """eth0[N] counts an interface's addresses in ContainerPilot's order, IPv4 mapped into
    IPv6 and sorted with the IPv6 ones: ContainerPilot 3.8.0 advertised ::1 for `lo[0]` and
    127.0.0.1 for `lo[1]` (run against Consul 1.10.3, 2026-12-07)."""
    loopback_v6 = any(name == "lo" and a.version == 6 for name, a in interface_addresses())
    if loopback_v6:
        assert resolve_address(("lo[0]",)) == "::1"
        assert resolve_address(("lo[9]", "lo[1]", "static:10.9.9.9")) == "127.0.0.1"
    else:
        assert resolve_address(("lo[0]",)) == "127.0.0.1"
        assert resolve_address(("lo[9]", "lo[1]", "static:10.9.9.9")) == "10.9.9.9"


def test_static_is_taken_literally_and_normalised() -> None:
    """static:IP resolves to that IP, written the standard way."""
    assert resolve_address(("static:10.1.2.3",)) == "10.1.2.3"
    assert resolve_address(("static:FD00:0::0001",)) == "fd00::1"


def test_specs_are_tried_in_order() -> None:
    """The first spec that matches wins, even when a later one is static."""
    assert resolve_address(("nosuch0", "127.0.0.0/8")) == "127.0.0.1"
    assert resolve_address(("lo", "static:10.1.2.3")) == "127.0.0.1"
    assert resolve_address(("nosuch0", "static:10.1.2.3")) == "10.1.2.3"


def test_no_match_names_the_specs_and_the_addresses() -> None:
    """When nothing matches, LookupError says which specs and which addresses there were."""
    with pytest.raises(LookupError) as error:
        resolve_address(("nosuch0", "nosuch1:inet6"))
    assert str(error.value).startswith("no interface matches nosuch0, nosuch1:inet6 (")
    assert "lo 127.0.0.1" in str(error.value)


def test_malformed_spec_is_a_value_error() -> None:
    """resolve_address checks its specs as config validation does."""
    with pytest.raises(ValueError):
        resolve_address(("lo", "eth0:ipx"))


def test_loopback_is_listed() -> None:
    """interface_addresses lists lo's 127.0.0.1."""
    assert ("lo", ipaddress.IPv4Address("127.0.0.1")) in interface_addresses()


def test_every_address_in_kernel_order() -> None:
    """Secondary addresses are listed too, IPv4 first, interfaces in index order."""
    addresses = in_network_namespace(TWO_INTERFACES, [])["addresses"]
    ipv4 = [(name, a) for name, a in addresses if ":" not in a]
    # Within an interface the kernel lists each network's primary address before secondaries.
    assert ipv4 == [
        ("lo", "127.0.0.1"),
        ("eth1", "169.254.3.3"),
        ("eth1", "192.168.7.1"),
        ("eth0", "10.1.0.5"),
        ("eth0", "10.2.0.7"),
        ("eth0", "10.1.0.6"),
    ]
    ipv6 = sorted((name, a) for name, a in addresses if ":" in a)
    assert ipv6 == [("eth0", "fd00:1::5"), ("eth0", "fe80::99"), ("eth1", "fe80::7"), ("lo", "::1")]


def test_each_form_against_real_interfaces() -> None:
    """Each form picks the right address, interfaces by name then addresses by value as
    ContainerPilot's; link-local ones only when nothing else matches."""
    queries = {
        "": "10.1.0.5",  # by name, as ContainerPilot, though the kernel lists eth1 first
        "eth0": "10.1.0.5",
        "eth0:inet": "10.1.0.5",
        "eth1": "192.168.7.1",
        "eth0:inet6": "fd00:1::5",
        "eth1:inet6": "fe80::7",
        "inet": "10.1.0.5",
        "eth1:inet": "192.168.7.1",  # 169.254.3.3 is link-local
        "inet6": "fd00:1::5",
        "10.1.0.6/32": "10.1.0.6",
        "10.2.0.0/16": "10.2.0.7",
        "fd00::/8": "fd00:1::5",
        "169.254.0.0/16": "169.254.3.3",
        "eth2,10.9.0.0/16,eth0:inet6": "fd00:1::5",
        "eth2": "LookupError",
    }
    answers = in_network_namespace(
        TWO_INTERFACES, [spec.split(",") if spec else [] for spec in queries]
    )
    assert {spec: answers[spec] for spec in queries} == queries


def test_only_loopback() -> None:
    """With nothing but lo, the default is 127.0.0.1 and inet matches nothing."""
    answers = in_network_namespace(["ip link set lo up"], [[], ["inet"], ["lo"], ["lo:inet6"]])
    assert answers[""] == "127.0.0.1"
    assert answers["inet"] == "LookupError"
    assert answers["lo"] == "127.0.0.1"
    assert answers["lo:inet6"] == "::1"


def test_no_address_at_all() -> None:
    """A namespace whose lo is down has no addresses, and the default is still 127.0.0.1."""
    answers = in_network_namespace([], [[]])
    assert answers == {"": "127.0.0.1", "addresses": []}
