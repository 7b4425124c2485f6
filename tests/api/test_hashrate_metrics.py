"""``/metrics`` has the pool's hashrate per window and node, and the busiest sub-accounts'
(a bounded number). Expected figures are worked out here from the shares sent: Σ diff × 2^32 /
window over the shares a window holds (its newest window/res slots, the current one included:
10 s slots for 1m/5m/15m, 5 min for 1h, 1 h for 1d)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.api.conftest import T0, Node

WINDOWS = {
    "1m": (60, 10), "5m": (300, 10), "15m": (900, 10), "1h": (3600, 300), "1d": (86400, 3600)
}  # fmt: skip
# (seconds before T0, user, difficulty): each age falls in a different set of windows
SHARES = [
    (5, "alice", 1024.0),
    (45, "bob", 4096.0),
    (200, "alice", 512.0),
    (700, "bob", 2048.0),
    (2000, "alice", 256.0),
    (3500, "bob", 8192.0),
    (40_000, "alice", 65536.0),
    (90_000, "bob", 1.0),  # older than every window
]


def expected_hs(now: float, user: str | None = None) -> dict[str, float]:
    rates = {}
    for window, (seconds, res) in WINDOWS.items():
        first_slot = now // res - seconds // res + 1
        held = sum(
            diff
            for age, who, diff in SHARES
            if (user is None or who == user) and (T0 - age) // res >= first_slot
        )
        rates[window] = held * 2**32 / seconds
    return rates


def scrape(node: Node) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    response = node.client.get("/metrics")
    assert response.status_code == 200
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            found.setdefault(sample.name, {})[labels] = sample.value
    return found


def send(node: Node) -> None:
    answer = node.ingest(
        *(
            {"ts": T0 - age, "user": user, "worker": "rig1", "diff": diff, "accepted": True}
            for age, user, diff in SHARES
        ),
        # a rejected share counts in no hashrate
        {"ts": T0 - 5, "user": "alice", "worker": "rig1", "diff": 999.0, "accepted": False},
    )
    assert (answer["accepted"], answer["refused"]) == (len(SHARES) + 1, 0)


def pool_series(found: dict[str, Any], node_name: str) -> dict[str, float]:
    return {
        dict(labels)["window"]: value
        for labels, value in found["poolstats_pool_hashrate_hs"].items()
        if dict(labels)["node"] == node_name
    }


def test_pool_hashrate_per_window_and_node(make_node: Callable[..., Node]) -> None:
    node = make_node(node_name="eu-1")
    send(node)
    found = scrape(node)
    assert pool_series(found, "eu-1") == pytest.approx(expected_hs(T0), rel=1e-12)
    assert all(v > 0 for v in expected_hs(T0).values())
    # the windows slide at scrape time, with no share and no flush in between
    node.clock.advance(600)
    later = pool_series(scrape(node), "eu-1")
    assert later == pytest.approx(expected_hs(T0 + 600), rel=1e-12)
    assert later["1m"] == 0.0 and later["5m"] == 0.0


def test_only_the_busiest_sub_accounts_are_shown(make_node: Callable[..., Node]) -> None:
    node = make_node(node_name="eu-1", metrics_top_subaccounts=1)
    send(node)
    found = scrape(node)["poolstats_subaccount_hashrate_hs"]
    # bob is busier over 15m (4096 + 2048 against 1024 + 512): bob alone, all 5 windows
    assert expected_hs(T0, "bob")["15m"] > expected_hs(T0, "alice")["15m"]
    assert {dict(labels)["puid"] for labels in found} == {str(node.puid["bob"])}
    shown = {dict(labels)["window"]: value for labels, value in found.items()}
    assert shown == pytest.approx(expected_hs(T0, "bob"), rel=1e-12)
    # 870 s later the 15m window starts at T0 - 20: alice's share of T0 - 5 is the only one
    # left in it, so alice is the busiest and bob leaves the metric
    node.clock.advance(870)
    assert expected_hs(T0 + 870, "bob")["15m"] == 0 < expected_hs(T0 + 870, "alice")["15m"]
    later = scrape(node)["poolstats_subaccount_hashrate_hs"]
    assert {dict(labels)["puid"] for labels in later} == {str(node.puid["alice"])}
    shown = {dict(labels)["window"]: value for labels, value in later.items()}
    assert shown == pytest.approx(expected_hs(T0 + 870, "alice"), rel=1e-12)


def test_no_sub_account_series_when_disabled(make_node: Callable[..., Node]) -> None:
    node = make_node(metrics_top_subaccounts=0)
    send(node)
    found = scrape(node)
    assert found.get("poolstats_subaccount_hashrate_hs", {}) == {}
    assert sum(pool_series(found, node.service.settings.node()).values()) > 0


def test_concurrent_scrapes_each_see_every_sub_accounts_series(
    make_node: Callable[..., Node],
) -> None:
    users = [f"user{i}" for i in range(400)]  # setting their gauges takes a while
    node = make_node(metrics_top_subaccounts=len(users))
    for name in users:
        node.service.store.create_user(name, int(T0))
    node.ingest(
        *({"ts": T0 - 5, "user": u, "worker": "rig1", "diff": 1.0, "accepted": True} for u in users)
    )
    expected = len(users) * len(WINDOWS)

    def series() -> int:
        return len(scrape(node).get("poolstats_subaccount_hashrate_hs", {}))

    with ThreadPoolExecutor(8) as pool:  # each scrape sets the gauges in its own thread
        counts = list(pool.map(lambda _: series(), range(100)))
    assert counts == [expected] * len(counts)
