"""Consul's DNS interface: a query in wire format answered from the catalog, with the rules of
Consul's DNS router (agent/dns): `<service>.service`, `<tag>.<service>.service`, RFC 2782
`_<service>._<tag>`, `<node>.node`, `<hex>.addr`, an optional datacenter label, NXDOMAIN
with the domain's SOA, and the UDP trimming of answers.

dnspython is imported by this module only, which the server imports when DNS is on.
"""

from __future__ import annotations

import ipaddress
import logging
import random
import struct
import time

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.IN.SRV
import dns.reversename
import dns.rrset
from dns.message import Message
from dns.name import Name
from dns.rdatatype import RdataType

from pilot.devconsul.agent.registry import Registry
from pilot.devconsul.dns.options import DnsOptions
from pilot.devconsul.state.catalog import CRITICAL, WARNING, Node, Service

A, AAAA, SRV, SOA, ANY = (
    dns.rdatatype.A,
    dns.rdatatype.AAAA,
    dns.rdatatype.SRV,
    dns.rdatatype.SOA,
    dns.rdatatype.ANY,
)
IN = dns.rdataclass.IN
log = logging.getLogger("pilot.devconsul")
HEADER = struct.Struct("!HBBHHHH")  # id, flags (two bytes), the four section counts
QR = 0x80
DEFAULT_UDP_SIZE = 512  # defaultMaxUDPSize
MAX_UDP_DATAGRAM = 4096  # maxUDPDatagramSize
MAX_UDP_ANSWER_LIMIT = 8  # maxUDPAnswerLimit
MAX_TCP_SIZE = 65535
REVERSE_ZONES = (dns.name.from_text("in-addr.arpa."), dns.name.from_text("ip6.arpa."))


class _NoSuchName(Exception):
    """NXDOMAIN: the name is not known."""


class Answerer:
    """Answers queries for one registry (its lock is taken for each lookup)."""

    def __init__(self, registry: Registry, datacenter: str, options: DnsOptions) -> None:
        self.registry, self.datacenter, self.options = registry, datacenter, options
        self.domain = dns.name.from_text(options.domain)

    def answer(self, wire: bytes, udp: bool) -> bytes | None:
        """The response to a message in wire format: as miekg/dns (Consul's DNS server), a
        message without a whole header or that is itself a response gets none, one that
        does not parse or asks other than one question gets FORMERR."""
        if len(wire) < HEADER.size or wire[2] & QR:
            return None
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException as error:
            log.debug("DNS: FORMERR for a malformed message: %s", " ".join(str(error).split()))
            return format_error(wire)
        if len(query.question) != 1:
            return format_error(wire)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        response.flags &= ~dns.flags.RA
        question = query.question[0]
        reverse = any(question.name.is_subdomain(zone) for zone in REVERSE_ZONES)
        if not reverse and not question.name.is_subdomain(self.domain):
            response.set_rcode(dns.rcode.REFUSED)  # no recursors
            response.flags &= ~dns.flags.AA
            return response.to_wire()
        try:
            if reverse:
                self._pointer(question.name, response)
            else:
                self._dispatch(question.name, question.rdtype, response)
        except _NoSuchName:
            response.set_rcode(dns.rcode.NXDOMAIN)
            response.answer.clear()
            response.additional.clear()
        if not response.answer:
            response.authority.append(self._soa())
        max_size, cut = MAX_TCP_SIZE, False
        if udp:
            max_size, cut = DEFAULT_UDP_SIZE, query.edns < 0
            if query.edns >= 0:
                max_size = min(max(query.payload, DEFAULT_UDP_SIZE), MAX_UDP_DATAGRAM)
        try:
            wire = response.to_wire(max_size=MAX_TCP_SIZE)
        except dns.exception.TooBig:
            wire = b""
        answers = sum(len(rrset) for rrset in response.answer)
        limit = min(MAX_UDP_ANSWER_LIMIT, self.options.udp_answer_limit) if cut else answers
        if wire and len(wire) <= max_size and answers <= limit:
            return wire  # the common case: it fits as it is
        self._trim(response, max_size, limit)
        if self.options.enable_truncate:
            response.flags |= dns.flags.TC
        return response.to_wire(max_size=MAX_TCP_SIZE)

    # --- names ---------------------------------------------------------------------------

    def _dispatch(self, name: Name, rdtype: RdataType, response: Message) -> None:
        try:
            labels = [label.decode().lower() for label in name.relativize(self.domain).labels]
        except UnicodeDecodeError:  # no name consul-dev answers has such a label
            raise _NoSuchName from None
        if not labels:
            if rdtype in (SOA, ANY):
                response.answer.append(self._soa())
            return
        for i in range(len(labels) - 1, -1, -1):
            kind = labels[i]
            if kind in ("service", "node", "addr"):
                parts, suffixes = labels[:i], labels[i + 1 :]
                break
            if rdtype == SRV and kind.startswith("_"):
                kind, parts, suffixes = "service", labels[: i + 1], labels[i + 1 :]
                break
        else:
            raise _NoSuchName
        if len(suffixes) > 1 or (suffixes and suffixes[0] != self.datacenter.lower()):
            raise _NoSuchName
        with self.registry.store.lock:
            if kind == "service":
                self._service(name, rdtype, parts, response)
            elif kind == "node":
                self._node(name, rdtype, ".".join(parts), response)
            else:
                self._addr(name, rdtype, parts, response)

    def _pointer(self, name: Name, response: Message) -> None:
        """A reverse lookup: the nodes with that address, else the services with it."""
        try:
            address = ipaddress.ip_address(dns.reversename.to_address(name))
        except (ValueError, dns.exception.SyntaxError):
            raise _NoSuchName from None
        domain = f"{self.datacenter}.{self.options.domain}"
        with self.registry.store.lock:
            catalog = self.registry.catalog
            nodes = sorted(n.name for n in catalog.nodes.values() if _same(n.address, address))
            targets = [f"{node}.node.{domain}" for node in nodes]
            if not targets:
                names = {s.name for s in catalog.services.values() if _same(s.address, address)}
                targets = [f"{service}.service.{domain}" for service in sorted(names)]
        if not targets:
            raise _NoSuchName
        for target in targets:
            _add(response, response.answer, name, self.options.node_ttl, dns.rdatatype.PTR, target)

    def _service(self, name: Name, rdtype: RdataType, parts: list[str], response: Message) -> None:
        tag = ""
        if len(parts) == 2 and parts[0].startswith("_") and parts[1].startswith("_"):
            service, tag = parts[0][1:], parts[1][1:]
            tag = "" if tag == "tcp" else tag
        elif len(parts) == 2:
            tag, service = parts
        elif len(parts) == 1:
            service = parts[0]
        else:
            raise _NoSuchName
        found = self._healthy(service, tag)
        if not found:
            raise _NoSuchName
        random.shuffle(found)
        ttl = self.options.service_ttl
        seen: set[str] = set()
        for node, instance, weight in found:
            address = instance.address or node.address
            if rdtype == SRV:
                target = self._srv_target(node, instance)
                key = f"{node.name}:{address}:{instance.port}"
                if key in seen:
                    continue
                seen.add(key)
                text = f"1 {weight} {instance.port} {target}"
                _add(response, response.answer, name, ttl, SRV, text)
                target_name = dns.name.from_text(target)
                self._address(response, response.additional, target_name, ttl, address, SRV)
                if not instance.address and self.options.node_meta_txt:  # the target is the node
                    _meta_txt(response, response.additional, target_name, ttl, node)
            elif address not in seen:
                seen.add(address)
                self._address(response, response.answer, name, ttl, address, rdtype)

    def _healthy(self, service: str, tag: str) -> list[tuple[Node, Service, int]]:
        """Instances of `service` (with `tag`) whose checks allow them in DNS, with weights."""
        catalog, out = self.registry.catalog, []
        for instance in catalog.services.values():
            if instance.name.lower() != service or (
                tag and tag not in (t.lower() for t in instance.tags)
            ):
                continue
            checks = catalog.node_checks(instance.node)
            checks += catalog.checks_of(instance.node, instance.id)
            statuses = {check.status for check in checks}
            if CRITICAL in statuses or (self.options.only_passing and WARNING in statuses):
                continue
            weight = instance.weights.get("Warning" if WARNING in statuses else "Passing", 1)
            out.append((catalog.nodes[instance.node], instance, weight))
        return out

    def _srv_target(self, node: Node, instance: Service) -> str:
        """Consul's SRV target: the node's name, the service's, or the address encoded."""
        domain = f"{self.datacenter}.{self.options.domain}"
        if not instance.address:
            return f"{node.name}.node.{domain}"
        try:
            ip = ipaddress.ip_address(instance.address)
        except ValueError:
            return instance.address.rstrip(".") + "."
        if instance.address == node.address:
            return f"{instance.name}.service.{domain}"
        return f"{ip.packed.hex()}.addr.{domain}"

    def _node(self, name: Name, rdtype: RdataType, node_name: str, response: Message) -> None:
        node = next(
            (n for key, n in self.registry.catalog.nodes.items() if key.lower() == node_name),
            None,
        )
        if node is None:
            raise _NoSuchName
        ttl = self.options.node_ttl
        self._address(response, response.answer, name, ttl, node.address, rdtype)
        if self.options.node_meta_txt or rdtype == dns.rdatatype.TXT:
            section = response.answer if rdtype in (dns.rdatatype.TXT, ANY) else response.additional
            _meta_txt(response, section, name, ttl, node)

    def _addr(self, name: Name, rdtype: RdataType, parts: list[str], response: Message) -> None:
        if len(parts) != 1 or len(parts[0]) not in (8, 32):
            raise _NoSuchName
        try:
            packed = bytes.fromhex(parts[0])
        except ValueError:
            raise _NoSuchName from None
        address = str(ipaddress.ip_address(packed))
        self._address(response, response.answer, name, self.options.node_ttl, address, rdtype)

    def _address(
        self,
        response: Message,
        section: list[dns.rrset.RRset],
        name: Name,
        ttl: int,
        address: str,
        rdtype: RdataType,
    ) -> None:
        """An A or AAAA record for an IP (if the question takes it), a CNAME for a host name."""
        try:
            version = ipaddress.ip_address(address).version
        except ValueError:
            if rdtype != SRV:
                _add(response, section, name, ttl, dns.rdatatype.CNAME, address.rstrip(".") + ".")
            return
        record = A if version == 4 else AAAA
        if rdtype in (record, ANY, SRV):
            _add(response, section, name, ttl, record, address)

    def _soa(self) -> dns.rrset.RRset:
        domain = self.options.domain
        text = f"ns.{domain} hostmaster.{domain} {int(time.time()) & 0xFFFFFFFF} 3600 600 86400 0"
        return dns.rrset.from_text(self.domain, 0, IN, SOA, text)

    @staticmethod
    def _trim(response: Message, max_size: int, limit: int) -> None:
        """Consul's trimUDPResponse (and TCP's 64 KiB): at most `limit` answers, then as many
        as fit in `max_size`; the additional section keeps what the remaining answers name.

        The count is searched between one that fits and one that does not: every other step
        extrapolates from the size per record so far (the records of one answer are much
        alike), the others halve, so a big answer takes a few renderings and never more
        than twice the bisection's."""
        records = [(rrset.name, rdata, rrset.ttl) for rrset in response.answer for rdata in rrset]
        additional = list(response.additional)
        targets = _targets(records)
        records = records[:limit]

        def size(count: int) -> int | None:
            """The wire size with `count` answers (None: past 64 KiB)."""
            _rebuild(response, records[:count], additional, targets)
            try:
                return len(response.to_wire(max_size=MAX_TCP_SIZE))
            except dns.exception.TooBig:
                return None

        empty = size(0) or 0
        low, low_size, high = 0, empty, len(records) + 1
        extrapolate = False
        while high - low > 1:
            middle = (low + high) // 2
            if extrapolate and low > 0 and low_size > empty:
                per_record = (low_size - empty) / low
                guess = low + int((max_size - low_size) / per_record * 0.98)
                middle = min(max(guess, low + 1), high - 1)
            extrapolate = not extrapolate
            middle_size = size(middle)
            if middle_size is not None and middle_size <= max_size:
                low, low_size = middle, middle_size
            else:
                high = middle
        _rebuild(response, records[:low], additional, targets)


def format_error(wire: bytes) -> bytes:
    """miekg/dns's SetRcodeFormatError: the query's id, a response to opcode QUERY with
    rcode FORMERR and no sections."""
    return HEADER.pack(int.from_bytes(wire[:2], "big"), QR, dns.rcode.FORMERR, 0, 0, 0, 0)


def _meta_txt(
    response: Message, section: list[dns.rrset.RRset], name: Name, ttl: int, node: Node
) -> None:
    """The node's meta as TXT records, `key=value` (an `rfc1035-` key's value alone)."""
    for key, value in sorted((node.meta or {}).items()):
        text = value if key.startswith("rfc1035-") else f"{key}={value}"
        _add(response, section, name, ttl, dns.rdatatype.TXT, '"' + _txt_escape(text) + '"')


def _add(
    response: Message,
    section: list[dns.rrset.RRset],
    name: Name,
    ttl: int,
    rdtype: RdataType,
    text: str,
) -> None:
    _add_rdata(response, section, name, ttl, dns.rdata.from_text(IN, rdtype, text))


def _add_rdata(
    response: Message,
    section: list[dns.rrset.RRset],
    name: Name,
    ttl: int,
    rdata: dns.rdata.Rdata,
) -> None:
    """Add to the section's RRset of that name and type (found through the message's
    index: a scan of the section would make big answers quadratic)."""
    response.find_rrset(section, name, IN, rdata.rdtype, create=True).add(rdata, ttl)


def _rebuild(
    response: Message,
    records: list[tuple[Name, dns.rdata.Rdata, int]],
    additional: list[dns.rrset.RRset],
    targets: set[Name],
) -> None:
    """Answers as `records`; of the `additional` records for SRV `targets`, only those for
    targets still answered."""
    response.answer.clear()
    response.index.clear()
    for name, rdata, ttl in records:
        _add_rdata(response, response.answer, name, ttl, rdata)
    kept = _targets(records)
    response.additional.clear()
    response.additional.extend(
        rrset for rrset in additional if rrset.name in kept or rrset.name not in targets
    )


def _targets(records: list[tuple[Name, dns.rdata.Rdata, int]]) -> set[Name]:
    return {rdata.target for _, rdata, _ in records if isinstance(rdata, dns.rdtypes.IN.SRV.SRV)}


def _same(text: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    try:
        return ipaddress.ip_address(text) == address
    except ValueError:
        return False


def _txt_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
