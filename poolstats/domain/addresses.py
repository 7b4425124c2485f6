"""Client addresses as the limits count them: one key per client, and which peers are
trusted proxies.

An IPv6 client usually holds a whole /64 (its ISP hands out prefixes, and privacy
extensions pick a new address inside it every few hours), so counting single IPv6
addresses would let one machine look like 2^64 clients; the /64 is the client. An
IPv4-mapped IPv6 address (``::ffff:192.0.2.1``) is its IPv4 address.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

IPv6_CLIENT_PREFIX = 64

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def client_key(host: str) -> str:
    """The key limits count ``host`` under: an IPv4 address as it is, an IPv6 address as its
    /64 network; anything that is not an IP address (a Unix socket, a test client) as given."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, IPv6_CLIENT_PREFIX), strict=False))
    return str(address)


@dataclass(frozen=True)
class Trusted:
    """Peers named as reverse proxies: ``*`` (any), IP addresses, networks, and other
    literals (a Unix socket's name) matched exactly; the same list uvicorn's
    ``forwarded_allow_ips`` takes."""

    any: bool
    networks: tuple[Network, ...]
    literals: frozenset[str]

    @classmethod
    def parse(cls, text: str) -> Trusted:
        items = [item.strip() for item in text.split(",") if item.strip()]
        networks: list[Network] = []
        literals: set[str] = set()
        for item in items:
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                literals.add(item)
        return cls("*" in literals, tuple(networks), frozenset(literals - {"*"}))

    def __contains__(self, host: object) -> bool:
        if not isinstance(host, str):
            return False
        if self.any or host in self.literals:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)
