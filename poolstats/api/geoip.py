"""Country of an IP address for ``ip2location``, from geoip2fast's bundled offline data.

The data (IPv4 and IPv6, about 50 MB in memory) loads on the first lookup, so nodes that never
serve a worker's detail never pay for it. Countries only: no PyPI package ships region data.
"""

from __future__ import annotations

import functools
import ipaddress
from typing import Any

DATA_FILE = "geoip2fast-ipv6.dat.gz"  # the IPv6 file holds the IPv4 ranges too


@functools.cache
def _database() -> Any:
    from geoip2fast import GeoIP2Fast

    return GeoIP2Fast(geoip2fast_data_file=DATA_FILE, verbose=False)


def country(ip: str) -> str:
    """The English name of the IP's country; "" when unknown, private or not an address."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:8.8.8.8 from a dual-stack stratum server
    found = _database().lookup(str(address))
    code = getattr(found, "country_code", "")
    if not isinstance(code, str) or len(code) != 2 or not code.isalpha():
        return ""
    name = getattr(found, "country_name", "")
    return name if isinstance(name, str) else ""
