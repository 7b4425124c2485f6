"""ip2location: a country from the offline data, "" where there is none."""

from __future__ import annotations

import pytest

from poolstats.api.geoip import country


@pytest.mark.parametrize(
    ("ip", "name"),
    [
        ("114.114.114.114", "China"),
        ("::ffff:114.114.114.114", "China"),  # IPv4-mapped, as dual-stack servers log it
        ("8.8.8.8", "United States"),
        ("2001:4860:4860::8888", "United States"),
        ("10.1.2.3", ""),  # private
        ("203.0.113.7", ""),  # documentation range
        ("::1", ""),
        ("", ""),
        ("not an ip", ""),
    ],
)
def test_country_of_an_address(ip: str, name: str) -> None:
    assert country(ip) == name
