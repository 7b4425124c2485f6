"""The stratum addresses a pool advertises, by region (the ``pool_stratum_urls`` setting).

Written ``region=host:port`` items separated by commas; a region named again gathers its
addresses in the order given (``cn=a.example:3333,cn=a.example:443,us=b.example:3333``).
Regions are numbered from 1 in the order they first appear, which is the ``region_id`` of
BTC.COM's url-config. Nothing is guessed from the stratum server's bind address: that is
often 0.0.0.0 or 127.0.0.1, neither of which a miner can connect to, so only the operator
can say what to advertise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_PORT = 65535
_REGION = re.compile(r"[A-Za-z0-9_-]{1,32}")
# A host name or IPv4 address, or an IPv6 address in brackets; ASCII only.
_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\]")
_PORT = re.compile(r"[0-9]{1,5}")


@dataclass(frozen=True)
class StratumRegion:
    region_id: int
    name: str
    addresses: tuple[str, ...]  # host:port


def parse_stratum_regions(text: str) -> tuple[StratumRegion, ...]:
    """The regions of a ``pool_stratum_urls`` value (none for an empty one); ``ValueError``
    quoting the item that is not ``region=host:port``."""
    regions: dict[str, list[str]] = {}
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        region, sep, address = (part.strip() for part in item.partition("="))
        if not sep or not _REGION.fullmatch(region):
            raise ValueError(
                f"{item!r}: write region=host:port, the region in letters, digits, - or _"
            )
        host, colon, port = address.rpartition(":")
        if not colon or not _HOST.fullmatch(host):
            raise ValueError(f"{item!r}: the address must be host:port")
        if not _PORT.fullmatch(port) or not 1 <= int(port) <= MAX_PORT:
            raise ValueError(f"{item!r}: the port must be a number from 1 to {MAX_PORT}")
        known = regions.setdefault(region, [])
        if address not in known:
            known.append(address)
    return tuple(
        StratumRegion(number, name, tuple(addresses))
        for number, (name, addresses) in enumerate(regions.items(), start=1)
    )
