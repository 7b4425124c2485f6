"""BTC.COM account and pool endpoints, golden; the pool merge against real peer nodes."""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from tests.api.conftest import ALICE, BOB, T0, Node
from tests.api.golden import MIB, load
from tests.nodes import NodeServer, free_port


@pytest.fixture
def loaded(node: Node) -> Node:
    load(node)
    return node


def test_account_info_golden_with_the_phone_number_masked(loaded: Node) -> None:
    loaded.service.store.update_subaccount_profile(
        1,
        {
            "address": "3NA8hsjfdgVkmmVS9moHmkZsVCoLxUkvvv",
            "region": "中国",
            "phone_country": "86",
            "phone_number": "13312343333",
        },
        int(loaded.clock.now()),
    )
    assert loaded.api("GET", "/v1/account/info", puid=1) == {
        "err_no": 0,
        "err_msg": None,
        "data": {
            "user_id": 1,
            "user_name": "alice",
            "address": "3NA8hsjfdgVkmmVS9moHmkZsVCoLxUkvvv",
            "nmc_address": "",
            "rebates_address": "",
            "region": "中国",
            "contact": {"mail": "", "phone": {"country": "86", "number": "133****3333"}},
            "alert": {
                # the sub-account now: rig1's 60 x 2^20 in 15 minutes is 300.2 T, 1 ACTIVE
                "hashrate_max": "300.2",
                "hashrate_value": "0",
                "hashrate_unit": "T",
                "hashrate_alert": 0,
                "miner_max": "1",
                "miner_value": "0",
                "miner_alert": 0,
                "alert_interval": 6,
            },
            "pay_limit": "0.00500000",  # poolstats' own field: the default threshold
        },
    }


def test_earnings_have_their_final_shape_with_zeros(loaded: Node) -> None:
    assert loaded.data("/v1/account/earn-stats") == {
        "total_paid": "0",
        "pending_payouts": "0",
        "last_payment_time": "0",
        "earnings_today": "0",
        "earnings_yesterday": "0",
        "unpaid": "0",
    }
    assert loaded.data("/v1/account/earn-history", page=2, page_size=50) == {
        "page": "2",
        "page_size": "50",
        "page_count": 0,
        "total_count": 0,
        "list": [],
    }


def test_realtime_hashrate_golden(loaded: Node) -> None:
    # alice 15m: rig1's 60 * 2^20 over 900 s = 300.2 T;
    # 1d: (60 + 30) * 2^20 * 2^32 / 86400 = 4.691 T (rig3's share is older than a day)
    # _pure: the same sums in whole H/s; 1m 2^52, 5m 2^52 / 5, 15m 2^52 / 15; 1h rig1 and
    # rig2's 90 * 2^20 over 3600 s = 2^52 / 40; 1d 2^52 / 960 (fractions below 0.5 dropped)
    assert loaded.data("/v1/realtime/hashrate") == {
        "shares_15m": "300.2",
        "shares_15m_unit": "T",
        "shares_1d": "4.691",
        "shares_1d_unit": "T",
        "shares_1m_pure": "4503599627370496",
        "shares_5m_pure": "900719925474099",
        "shares_15m_pure": "300239975158033",
        "shares_1h_pure": 112589990684262,
        "shares_1d_pure": 4691249611844,
    }


POOL_GOLDEN = {
    # alice's rig1 (60 * 2^20) + bob's 10 * 2^16 accepted in every short window:
    # 1m (62914560 + 655360) * 2^32 / 60 = 4.551 P, 5m 0.9101 P, 15m 0.3034 P;
    # rejected 2^20 of 64618496 in all = 0.0162 in each window.
    "shares": {"shares_1m": 4.551, "shares_5m": 0.9101, "shares_15m": 0.3034, "shares_unit": "P"},
    "reject": {"1m": 0.0162, "5m": 0.0162, "15m": 0.0162},
    "workers": 2,  # rig1 and bobrig are ACTIVE
    "users": 2,
}


def test_pool_stats_golden_needs_no_key(loaded: Node) -> None:
    body = loaded.api("GET", "/public/v1/pool/stats", user="")
    assert body == {"err_no": 0, "err_msg": None, "data": POOL_GOLDEN}


@pytest.fixture
def serve_node() -> Iterator[Callable[[Node], str]]:
    """Serve a node's app on a real port (a peer for the merge); its base URL."""
    servers: list[NodeServer] = []

    def serve(node: Node) -> str:
        servers.append(NodeServer(node).start())
        return servers[-1].url

    yield serve
    for server in servers:
        server.stop()


class _Misbehaving(http.server.BaseHTTPRequestHandler):
    """A peer that answers 200 with what its path asks for (``server.answers``)."""

    def do_GET(self) -> None:
        body = self.server.answers[self.server.server_port]  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        if body == b"drip":  # a byte a while, for ever: only a whole-request deadline helps
            with contextlib.suppress(OSError):
                for _ in range(600):
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.05)
            return
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def bad_peers() -> Iterator[Callable[[bytes], str]]:
    servers: list[http.server.ThreadingHTTPServer] = []

    def serve(body: bytes) -> str:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Misbehaving)
        server.daemon_threads = True
        server.answers = {server.server_port: body}  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def _sums(accept: float, **extra: object) -> bytes:
    sums = {
        "node": "liar",
        "accept": {"1m": accept, "5m": 1.0, "15m": 1.0},
        "rejected": {"1m": 0.0, "5m": 0.0, "15m": 0.0},
        "workers": 1,
        "users": 1,
        **extra,
    }
    return json.dumps({"err_no": 0, "err_msg": None, "data": {"sums": sums}}).encode()  # fmt: skip


def test_merge_adds_up_live_peers_exactly_and_reports_the_others(
    make_node: Callable[..., Node],
    serve_node: Callable[[Node], str],
    bad_peers: Callable[[bytes], str],
) -> None:
    peer = make_node(node_name="there")
    load(peer)  # the same shares again on another node: every sum doubles
    peer_url = serve_node(peer)
    dead_url = f"http://127.0.0.1:{free_port()}"  # nothing listens
    silent = socket.socket()  # accepts connections, never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    silent_url = f"http://127.0.0.1:{silent.getsockname()[1]}"
    liars = [
        bad_peers(b'{"err_no": 0, "data": {"sums": {"node": 1}}}'),  # wrong types
        bad_peers(b"not json"),
        bad_peers(_sums(1e999)),  # infinite
        bad_peers(_sums(-5.0)),  # negative
        bad_peers(_sums(1.0, workers=-1)),
        bad_peers(b"drip"),  # slow: answers a byte at a time for 30 s
    ]
    peers = [peer_url, dead_url, silent_url, *liars, "http://[::1"]  # the last is no URL
    try:
        node = make_node(node_name="here", peers=",".join(peers), peer_timeout_s=0.5)
        load(node)
        started = time.monotonic()
        data = node.data("/public/v1/pool/stats/merge", user="")
        took = time.monotonic() - started
    finally:
        silent.close()
    assert took < 3  # every peer had 0.5 s, all at once
    assert (
        data["nodes"]
        == [
            {"name": "here", "ok": True},
            {"name": "there", "ok": True},  # a peer is named by its own --node-name
            *({"name": url, "ok": False} for url in peers[1:]),
        ]
    )
    # Exact sums, not rounded figures: 2 * (60 * 2^20 + 10 * 2^16) * 2^32 / 60 = 9.101 P,
    # / 300 = 1.820 P, / 900 = 0.6067 P; doubling leaves the reject fractions as they were
    assert data["shares"] == {
        "shares_1m": 9.101,
        "shares_5m": 1.82,
        "shares_15m": 0.6067,
        "shares_unit": "P",
    }
    assert data["reject"] == POOL_GOLDEN["reject"]
    assert (data["workers"], data["users"]) == (4, 4)


def test_merge_keeps_rejects_of_windows_without_accepted_work(node: Node) -> None:
    # Only rejected shares in the last minute: the fraction is 1 here and in the merge.
    node.ingest(*({"ts": int(T0) - 5, "puid": 1, "worker": "w", "diff": 4096,
                   "status": "reject"} for _ in range(3)))  # fmt: skip
    node.service.flush()
    alone = node.data("/public/v1/pool/stats", user="")
    merged = node.data("/public/v1/pool/stats/merge", user="")
    assert alone["reject"]["1m"] == merged["reject"]["1m"] == 1.0


def test_pool_stats_with_sums_gives_the_exact_difficulty_sums(node: Node) -> None:
    load(node)
    sums = node.data("/public/v1/pool/stats", user="", sums=1)["sums"]
    everything = (60 + 1) * MIB + 10 * 65536  # accepted and rejected in every short window
    assert sums["accept"] == {w: float(everything - MIB) for w in ("1m", "5m", "15m")}
    assert sums["rejected"] == {w: float(MIB) for w in ("1m", "5m", "15m")}
    assert (sums["workers"], sums["users"]) == (2, 2)
    assert "sums" not in node.data("/public/v1/pool/stats", user="")


def _min_payout(node: Node, puid: int) -> int:
    profile = node.service.store.subaccount_profile(puid)
    assert profile is not None
    return int(profile["min_payout_sat"])


def test_pay_limit_golden_stores_satoshis(node: Node) -> None:
    answer = node.api("POST", "/v1/account/pay/limit", puid=ALICE, amount="0.01")
    assert answer == {"err_no": 0, "err_msg": None, "data": {"status": True}}
    assert _min_payout(node, ALICE) == 1_000_000  # 0.01 × 100,000,000
    assert _min_payout(node, BOB) == 500_000  # untouched: the default 0.005 BTC
    node.api("POST", "/v1/account/pay/limit", puid=ALICE, amount="21000000")
    assert _min_payout(node, ALICE) == 21_000_000 * 100_000_000


@pytest.mark.parametrize("amount", ["0.0001", "abc", "1.123456789", "-1", "21000000.00000001"])
def test_pay_limit_refusals_name_amount_and_change_nothing(node: Node, amount: str) -> None:
    answer = node.api("POST", "/v1/account/pay/limit", puid=ALICE, amount=amount)
    assert answer["err_no"] == 1 and answer["err_msg"].startswith("amount"), answer
    assert _min_payout(node, ALICE) == 500_000


def test_pay_limit_refuses_read_only_keys_and_other_accounts(node: Node) -> None:
    key = node.service.store.create_key("alice", True, int(node.clock.now()))
    refused = node.client.post(
        "/v1/account/pay/limit", params={"access_key": key, "puid": ALICE, "amount": "0.01"}
    ).json()
    assert refused["err_no"] == 20001
    crossed = node.api("POST", "/v1/account/pay/limit", user="bob", puid=ALICE, amount="0.01")
    assert crossed["err_no"] == 20001
    assert (_min_payout(node, ALICE), _min_payout(node, BOB)) == (500_000, 500_000)
