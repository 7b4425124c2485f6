"""Which connections make room beyond the caps: the longest-waiting within the cap; a new
connection is refused only when every connection within the cap is busy."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from poolstats.domain.addresses import Trusted, client_key
from poolstats.domain.connection_caps import ConnectionCaps


def test_per_address_cap_closes_that_clients_longest_waiting() -> None:
    caps: ConnectionCaps[str] = ConnectionCaps(per_address=2, total=0)
    assert caps.open("a1", "A").admitted and caps.open("a2", "A").admitted
    assert caps.open("b1", "B").admitted
    admission = caps.open("a3", "A")
    assert admission.admitted and admission.evicted == [("a1", "address")]
    assert caps.count("A") == 2 and caps.count("B") == 1 and len(caps) == 3


def test_a_connection_served_again_waits_as_the_newest() -> None:
    caps: ConnectionCaps[str] = ConnectionCaps(per_address=2, total=0)
    caps.open("a1", "A")
    caps.open("a2", "A")
    caps.busy("a1")
    caps.waiting("a1")  # answered; now a2 has waited longest
    assert caps.open("a3", "A").evicted == [("a2", "address")]


def test_busy_connections_are_never_closed_and_a_new_one_is_refused() -> None:
    caps: ConnectionCaps[str] = ConnectionCaps(per_address=2, total=3)
    for conn in ("a1", "a2"):
        caps.open(conn, "A")
        caps.busy(conn)
    refused = caps.open("a3", "A")
    assert not refused.admitted and refused.refused_by == "address" and refused.evicted == []
    caps.open("b1", "B")
    caps.busy("b1")
    refused = caps.open("c1", "C")
    assert not refused.admitted and refused.refused_by == "total"
    assert len(caps) == 3


def test_total_cap_closes_the_longest_waiting_of_anyone() -> None:
    caps: ConnectionCaps[str] = ConnectionCaps(per_address=0, total=3)
    for conn in ("x1", "x2", "x3"):
        caps.open(conn, "X")
    admission = caps.open("h1", "H")
    assert admission.admitted and admission.evicted == [("x1", "total")]


def test_trusted_proxies_are_not_capped_per_address() -> None:
    caps: ConnectionCaps[str] = ConnectionCaps(per_address=1, total=0)
    for i in range(10):
        assert caps.open(f"p{i}", "P", capped=False).evicted == []
    assert caps.count("P") == 10


def test_closing_twice_and_closing_an_unknown_connection_change_nothing() -> None:
    caps: ConnectionCaps[str] = ConnectionCaps(per_address=2, total=0)
    caps.open("a1", "A")
    caps.close("a1")
    caps.close("a1")
    caps.close("never")
    caps.busy("never")
    caps.waiting("never")
    assert len(caps) == 0 and caps.count("A") == 0


@given(
    st.lists(st.tuples(st.sampled_from(["open", "busy", "wait", "close"]), st.integers(0, 30),
                       st.sampled_from("ABC")), max_size=200),
    st.integers(0, 4),
    st.integers(0, 8),
)  # fmt: skip
def test_the_caps_always_hold(
    steps: list[tuple[str, int, str]], per_address: int, total: int
) -> None:
    caps: ConnectionCaps[int] = ConnectionCaps(per_address, total)
    open_: dict[int, str] = {}
    busy: set[int] = set()
    for action, conn, key in steps:
        if action == "open" and conn not in open_:
            admission = caps.open(conn, key)
            for gone, _ in admission.evicted:
                assert gone not in busy  # only waiting connections make room
                del open_[gone]
            if admission.admitted:
                open_[conn] = key
        elif action == "busy" and conn in open_:
            caps.busy(conn)
            busy.add(conn)
        elif action == "wait" and conn in open_:
            caps.waiting(conn)
            busy.discard(conn)
        elif action == "close":
            caps.close(conn)
            open_.pop(conn, None)
            busy.discard(conn)
        assert len(caps) == len(open_)
        assert not total or len(open_) <= total
        for k in "ABC":
            mine = sum(1 for v in open_.values() if v == k)
            assert caps.count(k) == mine
            assert not per_address or mine <= per_address


def test_client_keys_group_ipv6_by_64_and_unmap_ipv4() -> None:
    assert client_key("192.0.2.7") == "192.0.2.7"
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::2")
    assert client_key("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert client_key("testclient") == "testclient"


def test_trusted_takes_addresses_networks_literals_and_any() -> None:
    trusted = Trusted.parse("127.0.0.1, ::1, 10.0.0.0/8, unix-proxy")
    assert "127.0.0.1" in trusted and "::1" in trusted and "10.9.8.7" in trusted
    assert "::ffff:10.1.1.1" in trusted and "unix-proxy" in trusted
    assert "127.0.0.2" not in trusted and "192.0.2.1" not in trusted and "" not in trusted
    assert "192.0.2.1" in Trusted.parse("*")
    assert "127.0.0.1" not in Trusted.parse("")
