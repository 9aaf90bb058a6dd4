"""The DNS interface over real UDP and TCP sockets, asked with dnspython and with `dig`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from pilot.devconsul.dns.options import DnsOptions
from pilot.devconsul.server import DevConsul
from tests.devconsul.conftest import Api
from tests.helpers import require, scaled


@pytest.fixture
def registry() -> Iterator[DevConsul]:
    """A registry with DNS on a free port (node "node1" at 127.0.0.1)."""
    dev = DevConsul("127.0.0.1:0", node="node1", dns="127.0.0.1:0")
    dev.start()
    yield dev
    dev.stop()


@pytest.fixture
def http(registry: DevConsul) -> Api:
    return Api(registry)


def ask(
    registry: DevConsul,
    name: str,
    rdtype: str = "A",
    tcp: bool = False,
    timeout: float = 5,
    **make: Any,
) -> dns.message.Message:
    """One query to the registry's DNS interface."""
    assert registry.dns is not None
    host, port = registry.dns.address.rsplit(":", 1)
    query = dns.message.make_query(name, rdtype, **make)
    send = dns.query.tcp if tcp else dns.query.udp
    return send(query, host, port=int(port), timeout=scaled(timeout))


def records(response: dns.message.Message, section: str = "answer") -> list[str]:
    """The records of a section as text, sorted."""
    return sorted(
        f"{rrset.name} {rrset.ttl} {dns.rdatatype.to_text(rrset.rdtype)} {rdata}"
        for rrset in getattr(response, section)
        for rdata in rrset
    )


def test_service_a_records_are_healthy_instances(registry: DevConsul, http: Api) -> None:
    """<service>.service.consul answers A records of the instances not critical, TTL 0, AA."""
    http.register({"Name": "web", "ID": "web1", "Address": "127.0.0.2", "Port": 80})
    http.register({"Name": "web", "ID": "web2", "Address": "127.0.0.3", "Port": 80})
    http.register({"Name": "web", "ID": "web3", "Address": "127.0.0.4", "Check": {"TTL": "30s"}})
    response = ask(registry, "web.service.consul")
    assert response.rcode() == dns.rcode.NOERROR and response.flags & dns.flags.AA
    assert records(response) == [
        "web.service.consul. 0 A 127.0.0.2",
        "web.service.consul. 0 A 127.0.0.3",
    ]
    with_dc = ask(registry, "WEB.service.dc1.consul")
    assert [r.split()[-1] for r in records(with_dc)] == ["127.0.0.2", "127.0.0.3"]


def test_answers_are_shuffled(registry: DevConsul, http: Api) -> None:
    """The order of instances changes between queries (Consul shuffles them)."""
    for n in range(4):
        http.register({"Name": "web", "ID": f"w{n}", "Address": f"127.0.1.{n}"})
    orders = set()
    for _ in range(20):
        response = ask(registry, "web.service.consul", use_edns=0)
        orders.add(tuple(str(rdata) for rdata in response.answer[0]))
    assert len(orders) > 1


def test_srv_targets_the_node_with_its_address_additional(registry: DevConsul, http: Api) -> None:
    """SRV of a service without an address targets <node>.node.<dc>.consul with an A record
    and the node's meta as TXT records in the additional section; weight is the passing
    weight."""
    http.register({"Name": "api", "Port": 8080, "Weights": {"Passing": 7, "Warning": 1}})
    response = ask(registry, "api.service.consul", "SRV")
    assert records(response) == ["api.service.consul. 0 SRV 1 7 8080 node1.node.dc1.consul."]
    assert records(response, "additional") == [
        "node1.node.dc1.consul. 0 A 127.0.0.1",
        'node1.node.dc1.consul. 0 TXT "consul-network-segment="',
        'node1.node.dc1.consul. 0 TXT "consul-version=1.22.0"',
    ]


def test_srv_of_a_service_address_targets_its_addr_name(registry: DevConsul, http: Api) -> None:
    """SRV of a service with its own IP targets <hex>.addr.<dc>.consul, resolvable itself."""
    http.register({"Name": "db", "Address": "10.1.2.3", "Port": 5432})
    response = ask(registry, "db.service.consul", "SRV", tcp=True)
    assert records(response) == ["db.service.consul. 0 SRV 1 1 5432 0a010203.addr.dc1.consul."]
    assert records(response, "additional") == ["0a010203.addr.dc1.consul. 0 A 10.1.2.3"]
    assert records(ask(registry, "0a010203.addr.dc1.consul")) == [
        "0a010203.addr.dc1.consul. 0 A 10.1.2.3"
    ]


def test_warning_instance_gets_the_warning_weight(registry: DevConsul, http: Api) -> None:
    """An instance with a warning check stays in DNS with its Warning weight."""
    check = {"TTL": "30s", "Status": "warning"}
    http.register({"Name": "q", "Port": 1, "Weights": {"Passing": 5, "Warning": 2}, "Check": check})
    assert records(ask(registry, "q.service.consul", "SRV"))[0].split()[4:6] == ["2", "1"]


def test_tag_and_rfc2782_lookups(registry: DevConsul, http: Api) -> None:
    """<tag>.<service>.service and _<service>._<tag> select by tag; _tcp selects none."""
    http.register({"Name": "web", "ID": "a", "Address": "127.0.0.2", "Port": 1, "Tags": ["v1"]})
    http.register({"Name": "web", "ID": "b", "Address": "127.0.0.3", "Port": 2, "Tags": ["v2"]})
    assert [r.split()[-1] for r in records(ask(registry, "v2.web.service.consul"))] == ["127.0.0.3"]
    tagged = ask(registry, "_web._v1.service.consul", "SRV")
    assert [r.split()[5] for r in records(tagged)] == ["1"]
    assert len(records(ask(registry, "_web._tcp.service.consul", "SRV"))) == 2
    assert len(records(ask(registry, "_web._tcp.consul", "SRV"))) == 2


def test_node_lookup_with_meta_txt(registry: DevConsul) -> None:
    """<node>.node[.<dc>].consul answers the node's address, its meta as TXT additional."""
    response = ask(registry, "node1.node.dc1.consul")
    assert records(response) == ["node1.node.dc1.consul. 0 A 127.0.0.1"]
    assert any("consul-version=" in r for r in records(response, "additional"))
    assert records(ask(registry, "node1.node.consul", "AAAA")) == []


@pytest.mark.parametrize(
    "name", ["nothing.service.consul", "web.service.dc2.consul", "x.node.consul", "zz.addr.consul"]
)
def test_unknown_names_are_nxdomain_with_soa(registry: DevConsul, name: str) -> None:
    """Unknown services, nodes, datacenters and addresses are NXDOMAIN with the SOA."""
    response = ask(registry, name)
    assert response.rcode() == dns.rcode.NXDOMAIN
    [soa] = records(response, "authority")
    assert soa.startswith("consul. 0 SOA ns.consul. hostmaster.consul. ")
    assert soa.endswith(" 3600 600 86400 0")


def test_names_outside_the_domain_are_refused(registry: DevConsul) -> None:
    """A name outside .consul is REFUSED (no recursors), over UDP and TCP."""
    assert ask(registry, "example.com").rcode() == dns.rcode.REFUSED
    assert ask(registry, "example.com", tcp=True).rcode() == dns.rcode.REFUSED


def test_udp_answers_are_trimmed_as_consul_trims(registry: DevConsul, http: Api) -> None:
    """Without EDNS a UDP answer keeps 3 records (udp_answer_limit) and their additional
    records only; with EDNS, and over TCP, every instance is answered."""
    for n in range(6):
        http.register({"Name": "many", "ID": f"m{n}", "Address": f"10.0.0.{n + 1}", "Port": n})
    udp = ask(registry, "many.service.consul", "SRV")
    assert len(records(udp)) == 3 and len(records(udp, "additional")) == 3
    assert not udp.flags & dns.flags.TC  # enable_truncate is off by default, as in Consul
    assert len(records(ask(registry, "many.service.consul", "SRV", use_edns=0))) == 6
    assert len(records(ask(registry, "many.service.consul", tcp=True))) == 6


def test_big_answers_fit_the_udp_size(registry: DevConsul, http: Api) -> None:
    """With EDNS the answer is cut to what fits the advertised size."""
    for n in range(200):
        http.register({"Name": "big", "ID": f"b{n}", "Address": f"10.0.{n // 250}.{n % 250 + 1}"})
    assert registry.dns is not None
    host, port = registry.dns.address.rsplit(":", 1)
    query = dns.message.make_query("big.service.consul", "A", use_edns=0, payload=1232)
    wire = dns.query.udp(query, host, port=int(port), timeout=scaled(5)).to_wire()
    assert 512 < len(wire) <= 1232
    assert len(records(ask(registry, "big.service.consul", tcp=True))) == 200


def test_dig_over_udp_and_tcp(registry: DevConsul, http: Api) -> None:
    """`dig` gets the same answers over UDP and TCP."""
    require(shutil.which("dig") is not None, "dig (dnsutils) is not installed")
    http.register({"Name": "web", "Address": "127.0.0.9", "Port": 8000})
    assert registry.dns is not None
    host, port = registry.dns.address.rsplit(":", 1)
    for transport in ("+notcp", "+tcp"):
        out = subprocess.run(
            ["dig", f"@{host}", "-p", port, transport, "+short", "web.service.consul", "SRV"],
            capture_output=True,
            text=True,
            timeout=scaled(10),
            check=True,
        ).stdout
        assert out.split() == ["1", "1", "8000", "7f000009.addr.dc1.consul."]


def test_embedded_registry_has_no_dns_by_default() -> None:
    """DevConsul (pilot's embedded registry) serves no DNS unless asked."""
    registry = DevConsul("127.0.0.1:0")
    try:
        assert registry.dns is None
    finally:
        registry.stop()


@pytest.mark.slow
def test_tcp_answers_are_cut_at_64_kib(registry: DevConsul, http: Api) -> None:
    """Over TCP an answer too big for one DNS message keeps what fits in 64 KiB."""
    assert registry.dns is not None
    for n in range(900):
        address = f"2001:db8::{n + 1:x}"
        http.register({"Name": "huge", "ID": f"h{n}", "Address": address, "Port": 1})
    # a few seconds of rendering on a busy machine: the test is of content, not of speed
    response = ask(registry, "huge.service.consul", "SRV", tcp=True, timeout=60)
    assert 100 < len(records(response)) < 900
    assert len(response.to_wire()) <= 65535


def test_only_passing_and_enable_truncate() -> None:
    """With dns_config's only_passing a warning instance is left out; with enable_truncate a
    cut answer has TC set."""
    options = DnsOptions(only_passing=True, enable_truncate=True)
    dev = DevConsul("127.0.0.1:0", node="node1", dns="127.0.0.1:0", dns_options=options)
    dev.start()
    try:
        http = Api(dev)
        check = {"TTL": "30s", "Status": "warning"}
        http.register({"Name": "w", "ID": "w1", "Address": "10.0.0.1", "Check": check})
        http.register({"Name": "w", "ID": "w2", "Address": "10.0.0.2"})
        assert [r.split()[-1] for r in records(ask(dev, "w.service.consul"))] == ["10.0.0.2"]
        for n in range(5):
            http.register({"Name": "t", "ID": f"t{n}", "Address": f"10.0.1.{n + 1}"})
        cut = ask(dev, "t.service.consul")
        assert len(records(cut)) == 3 and cut.flags & dns.flags.TC
    finally:
        dev.stop()


def test_registry_without_dns_does_not_load_dnspython() -> None:
    """The registry imports dnspython only when DNS is on (start-up stays light)."""
    code = (
        "import sys; from pilot.devconsul.server import DevConsul; "
        "d = DevConsul('127.0.0.1:0'); d.start(); d.stop(); "
        "print(any(m == 'dns' or m.startswith('dns.') for m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=scaled(30), check=True
    )
    assert out.stdout.strip() == "False"


def test_reverse_lookups(registry: DevConsul, http: Api) -> None:
    """PTR of the node's address names the node; of a service's own address, the service;
    of an unknown address, NXDOMAIN."""
    http.register({"Name": "db", "Address": "10.9.8.7"})
    assert records(ask(registry, "1.0.0.127.in-addr.arpa", "PTR")) == [
        "1.0.0.127.in-addr.arpa. 0 PTR node1.node.dc1.consul."
    ]
    assert records(ask(registry, "7.8.9.10.in-addr.arpa", "PTR")) == [
        "7.8.9.10.in-addr.arpa. 0 PTR db.service.dc1.consul."
    ]
    assert ask(registry, "9.9.9.9.in-addr.arpa", "PTR").rcode() == dns.rcode.NXDOMAIN


def test_two_instances_on_one_address_with_different_ports_are_two_srv(
    registry: DevConsul, http: Api
) -> None:
    """Two instances of a service on one node and address, on different ports, are two SRV
    records (one per port) with one A record for their shared target."""
    http.register({"Name": "pair", "ID": "p1", "Address": "10.0.0.7", "Port": 7001})
    http.register({"Name": "pair", "ID": "p2", "Address": "10.0.0.7", "Port": 7002})
    response = ask(registry, "pair.service.consul", "SRV", tcp=True)
    assert records(response) == [
        "pair.service.consul. 0 SRV 1 1 7001 0a000007.addr.dc1.consul.",
        "pair.service.consul. 0 SRV 1 1 7002 0a000007.addr.dc1.consul.",
    ]
    assert records(response, "additional") == ["0a000007.addr.dc1.consul. 0 A 10.0.0.7"]
