"""The hand-made share set behind the golden API tests, and what it must show.

Every expected figure below was worked out by hand from these shares (H/s = difficulty sum
* 2**32 / window seconds; then BTC.COM's unit and four significant digits), not by the code
under test. At T0 = 1_700_000_000 (22:13:20 UTC): the hour began at H0 = T0 - 800, which
is also the start of the current 15-minute interval.
"""

from __future__ import annotations

from typing import Any

from poolstats.domain.workers import worker_id
from tests.api.conftest import T0, Node

NOW = int(T0)
H0 = NOW - 800
MIB = 2**20

RIG1, RIG2, RIG3, BOBRIG = (worker_id(n) for n in ("rig1", "rig2", "rig3", "bobrig"))
IP1, IP2 = "203.0.113.7", "114.114.114.114"


def shares() -> list[dict[str, Any]]:
    """alice: rig1 busy now (60 accepted + 1 rejected share of 2^20), rig2 quiet for 2000 s
    (INACTIVE), rig3 silent for over a day (DEAD); bob: bobrig, 10 shares of 2^16."""
    out: list[dict[str, Any]] = []
    out += [{"ts": NOW - 30, "puid": 1, "worker": "rig1", "diff": MIB, "accepted": True,
             "ip": IP1}] * 60  # fmt: skip
    out += [{"ts": NOW - 10, "puid": 1, "worker": "rig1", "diff": MIB, "status": "reject",
             "ip": IP1}]  # fmt: skip
    out += [{"ts": NOW - 2000, "puid": 1, "worker": "rig2", "diff": MIB, "accepted": True,
             "ip": IP2}] * 30  # fmt: skip
    out += [{"ts": NOW - 87000, "puid": 1, "worker": "rig3", "diff": 1024, "accepted": True}]
    out += [{"ts": NOW - 10, "puid": 2, "worker": "bobrig", "diff": 65536, "accepted": True}] * 10
    return out


def load(node: Node) -> None:
    node.ingest(*shares())
    node.service.flush()


# rig1: 60 * 2^20 accepted in every window -> 1m 2^52 H/s = 4.504 P, 5m 0.9007 P,
# 15m 0.3002 P; 1d 2^52 / 1440 = 3.127 T; 15 m rejects 1 of 61 shares of work = 1.64 %.
RIG1_ITEM = {
    "gid": "-1",
    "group_name": "DEFAULT",
    "worker_id": str(RIG1),
    "worker_name": "rig1",
    "shares_1m": "4.504",
    "shares_5m": "0.9007",
    "shares_15m": "0.3002",
    "shares_unit": "P",
    "accept_count": "60",
    "last_share_time": str(NOW - 10),
    "last_share_ip": IP1,
    "reject_percent": "1.64",
    "shares_1d": "3.127",
    "shares_1d_unit": "T",
    "status": "ACTIVE",
    "first_share_time": NOW - 30,  # its first share: the accepted ones 30 s ago
    "miner_agent": "",  # the shares name none
}
# rig2: nothing in 15 minutes; 30 * 2^20 in the day -> 1.564 T
RIG2_ITEM = {
    "gid": "-1",
    "group_name": "DEFAULT",
    "worker_id": str(RIG2),
    "worker_name": "rig2",
    "shares_1m": "0",
    "shares_5m": "0",
    "shares_15m": "0",
    "shares_unit": "H",
    "accept_count": "30",
    "last_share_time": str(NOW - 2000),
    "last_share_ip": IP2,
    "reject_percent": "0.00",
    "shares_1d": "1.564",
    "shares_1d_unit": "T",
    "status": "INACTIVE",
    "first_share_time": NOW - 2000,
    "miner_agent": "",  # the shares name none
}
# rig3: its one share is older than the 1-day window
RIG3_ITEM = {
    "gid": "-1",
    "group_name": "DEFAULT",
    "worker_id": str(RIG3),
    "worker_name": "rig3",
    "shares_1m": "0",
    "shares_5m": "0",
    "shares_15m": "0",
    "shares_unit": "H",
    "accept_count": "1",
    "last_share_time": str(NOW - 87000),
    "last_share_ip": "",
    "reject_percent": "0.00",
    "shares_1d": "0",
    "shares_1d_unit": "H",
    "status": "DEAD",
    "first_share_time": NOW - 87000,
    "miner_agent": "",  # the shares name none
}
