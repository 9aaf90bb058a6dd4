"""Consul's `dns_config` as consul-dev takes it (apart from dnspython, which only the DNS
server loads)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DnsOptions:
    """The DNS interface's settings, with Consul's defaults."""

    domain: str = "consul."
    node_ttl: int = 0
    service_ttl: int = 0
    udp_answer_limit: int = 3
    enable_truncate: bool = False  # set TC on an answer that was cut
    only_passing: bool = False  # leave out instances with a warning too
    node_meta_txt: bool = True
