"""Pure renderers: store rows in, BTC.COM-shaped answers out (no I/O, time passed in).

Store rows carry difficulty sums by window (see ``engine.snapshot``); hashrates are made here,
at the edge. "Rejected" always means rejected plus stale.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from poolstats.api.btccom.schemas import (
    AccountInfo,
    AlertSettings,
    Contact,
    EarnHistory,
    EarnItem,
    EarnStats,
    GroupBrief,
    GroupItem,
    NodeSums,
    Phone,
    PoolReject,
    PoolShares,
    PoolStats,
    RealtimeHashrate,
    Size,
    SizeText,
    WindowDifficulty,
    WorkerDetail,
    WorkerFullStats,
    WorkerItem,
    WorkerStats,
)
from poolstats.domain.earnings import COIN, SECONDS_PER_DAY, btc_text
from poolstats.domain.hashrate import (
    four_significant,
    hashrate_hs,
    percent_text,
    pick_unit,
    reject_fraction,
    scaled,
)
from poolstats.domain.status import WorkerStatus, worker_status

if TYPE_CHECKING:  # the ledger's plain records; rendering them needs no store
    from poolstats.store.ledger import Balance, EarningsDay

WINDOW_S = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "1d": 86400}
SHORT = ("1m", "5m", "15m")
ROLLING = (*SHORT, "1h")  # the figures that share ``shares_unit``
DEFAULT_GID = -1
DEFAULT_NAME = "DEFAULT"
ALL_GID = 0  # as a group to read: every group together (0 as a worker's group: deleted)
ALL_NAME = "ALL"


def rate_hs(row: Mapping[str, Any], window: str) -> float:
    """Accepted hashrate of a snapshot row over one window."""
    return hashrate_hs(row[f"accept_{window}"], WINDOW_S[window])


def rejected_fraction(row: Mapping[str, Any], window: str) -> float:
    return reject_fraction(
        row[f"accept_{window}"], row[f"reject_{window}"] + row[f"stale_{window}"]
    )


def today_rejected_fraction(row: Mapping[str, Any], now: int) -> float:
    """Rejected (and stale) fraction of the worker's work in the current UTC day: the open
    daily history bucket the worker row carries (``day_*``). The trailing windows keep
    rejects for 15 minutes only; this is the day's figure the history shows too. A bucket of
    an earlier day means no work today: 0."""
    if int(row["day_start"]) != now - now % SECONDS_PER_DAY:
        return 0.0
    return reject_fraction(row["day_accept"], row["day_reject"] + row["day_stale"])


def _rates(row: Mapping[str, Any] | None) -> dict[str, float]:
    """Every window's accepted hashrate (zeros for ``None``), read once for all the figures
    made of it: a worker list renders thousands a second."""
    if row is None:
        return dict.fromkeys(WINDOW_S, 0.0)
    return {w: hashrate_hs(row[f"accept_{w}"], s) for w, s in WINDOW_S.items()}


def _short(row: Mapping[str, Any] | None) -> tuple[str, list[str]]:
    """The 1m/5m/15m/1h figures in one unit."""
    rates = _rates(row)
    return scaled([rates[w] for w in ROLLING])


def _day(row: Mapping[str, Any] | None) -> tuple[str, str]:
    unit, (text,) = scaled([rate_hs(row, "1d") if row else 0.0])
    return unit, text


def figures(row: Mapping[str, Any] | None) -> dict[str, Any]:
    """``shares_1m/5m/15m/1h`` in one ``shares_unit``, ``shares_1d`` in its own unit, and
    each window's ``_pure`` H/s: the block every worker, group and sub-account answer
    carries (zeros for ``None``)."""
    rates = _rates(row)
    unit, (m1, m5, m15, h1) = scaled([rates[w] for w in ROLLING])
    day_unit, (day,) = scaled([rates["1d"]])
    return {
        "shares_1m": m1,
        "shares_5m": m5,
        "shares_15m": m15,
        "shares_1h": h1,
        "shares_unit": unit,
        "shares_1d": day,
        "shares_1d_unit": day_unit,
        **_pure(rates),
    }


def pure(row: Mapping[str, Any] | None) -> dict[str, Any]:
    """Each window's hashrate in whole H/s, unformatted, from the same sums as the
    formatted figures: BTC.COM sent the 1m/5m/15m ones as strings of an integer
    (``"75061139114121"``) and the 1h/1d ones as integers."""
    return _pure(_rates(row))


def _pure(rates: Mapping[str, float]) -> dict[str, Any]:
    return {
        "shares_1m_pure": str(round(rates["1m"])),
        "shares_5m_pure": str(round(rates["5m"])),
        "shares_15m_pure": str(round(rates["15m"])),
        "shares_1h_pure": round(rates["1h"]),
        "shares_1d_pure": round(rates["1d"]),
    }


def page_count(total: int, page_size: int) -> int:
    return -(-total // page_size)


def worker_item(
    row: Mapping[str, Any], now: int, group_names: Mapping[int, str], thresholds: tuple[int, int]
) -> WorkerItem:
    gid = int(row["group_id"])
    return WorkerItem(
        gid=str(gid),
        group_name=group_names.get(gid, DEFAULT_NAME),
        worker_id=str(row["worker_id"]),
        worker_name=row["worker_name"],
        **figures(row),
        accept_count=str(row["accept_count"]),
        last_share_time=str(row["last_share_time"]),
        last_share_ip=row["last_share_ip"],
        reject_percent=percent_text(rejected_fraction(row, "15m")),
        status=worker_status(row["last_accept_time"], now, *thresholds).value,
        reject_percent_1d=percent_text(today_rejected_fraction(row, now)),
        first_share_time=int(row["first_share_time"]),
        miner_agent=row["miner_agent"],
    )


def worker_detail(
    row: Mapping[str, Any], now: int, location: str, thresholds: tuple[int, int]
) -> WorkerDetail:
    """``accept_percent`` is a fraction (0.985) and ``reject_percent`` a percent string, as in
    BTC.COM's example; both over the last 15 minutes."""
    worked = row["accept_15m"] + row["reject_15m"] + row["stale_15m"] > 0
    rejected = rejected_fraction(row, "15m")
    return WorkerDetail(
        worker_id=int(row["worker_id"]),
        worker_name=row["worker_name"],
        **figures(row),
        accept_count=str(row["accept_count"]),
        accept_percent=round(1 - rejected, 4) if worked else 0.0,
        reject_percent=percent_text(rejected),
        last_share_ip=row["last_share_ip"],
        ip2location=location,
        last_share_time=int(row["last_share_time"]),
        worker_status=worker_status(row["last_accept_time"], now, *thresholds).value,
        first_share_time=int(row["first_share_time"]),
        miner_agent=row["miner_agent"],
    )


def group_item(group: Mapping[str, Any], stats: Mapping[str, Any] | None) -> GroupItem:
    """``group``: gid, name, sort_id, created_at, updated_at; ``stats``: a ``group_stats`` row
    (``None`` for a group without workers)."""
    return GroupItem(
        gid=int(group["gid"]),
        sort_id=str(group["sort_id"]),
        name=group["name"],
        created_at=int(group["created_at"]),
        updated_at=int(group["updated_at"]),
        workers_active=int(stats["workers_active"]) if stats else 0,
        workers_inactive=int(stats["workers_inactive"]) if stats else 0,
        workers_dead=int(stats["workers_dead"]) if stats else 0,
        workers_total=int(stats["workers_total"]) if stats else 0,
        **figures(stats),
    )


def default_group(created_at: int) -> dict[str, Any]:
    """The DEFAULT group as a group row: it is not stored, every sub-account has it."""
    return {
        "gid": DEFAULT_GID,
        "sort_id": DEFAULT_GID,
        "name": DEFAULT_NAME,
        "created_at": created_at,
        "updated_at": created_at,
    }


def all_group(created_at: int) -> dict[str, Any]:
    """The "ALL" group as a group row, as BTC.COM's document shows it (``sort_id`` "-1")."""
    return default_group(created_at) | {"gid": ALL_GID, "name": ALL_NAME}


def worker_stats(
    subaccount: Mapping[str, Any] | None, counts: Mapping[WorkerStatus, int]
) -> WorkerStats:
    unit, (m1, m5, m15, h1) = _short(subaccount)
    return WorkerStats(
        shares_1m=m1,
        shares_5m=m5,
        shares_15m=m15,
        shares_1h=h1,
        shares_unit=unit,
        workers_active=counts[WorkerStatus.ACTIVE],
        workers_inactive=counts[WorkerStatus.INACTIVE],
        workers_dead=counts[WorkerStatus.DEAD],
        workers_total=sum(counts.values()),
        **pure(subaccount),
    )


def worker_full_stats(
    subaccount: Mapping[str, Any] | None, counts: Mapping[WorkerStatus, int]
) -> WorkerFullStats:
    """``worker_stats``' figures, with the 1d and 1h ones as ``{"size", "unit"}`` objects,
    each in its own unit; ``shares_unit`` is ``worker_stats``' (fitted to 1m/5m/15m/1h), so
    the two answers always agree."""
    unit, (m1, m5, m15, _) = _short(subaccount)
    day_unit, day = _day(subaccount)
    hour_unit, (hour,) = scaled([rate_hs(subaccount, "1h") if subaccount else 0.0])
    return WorkerFullStats(
        workers_active=counts[WorkerStatus.ACTIVE],
        workers_inactive=counts[WorkerStatus.INACTIVE],
        workers_dead=counts[WorkerStatus.DEAD],
        shares_1m=m1,
        shares_5m=m5,
        shares_15m=m15,
        workers_total=sum(counts.values()),
        shares_unit=unit,
        shares_1d=Size(size=float(day), unit=day_unit),
        shares_1h=SizeText(size=hour, unit=hour_unit),
    )


def realtime_hashrate(subaccount: Mapping[str, Any] | None) -> RealtimeHashrate:
    unit_15m, (m15,) = scaled([rate_hs(subaccount, "15m") if subaccount else 0.0])
    unit_1d, day = _day(subaccount)
    return RealtimeHashrate(
        shares_15m=m15,
        shares_15m_unit=unit_15m,
        shares_1d=day,
        shares_1d_unit=unit_1d,
        **pure(subaccount),
    )


def group_brief(gid: int, name: str) -> GroupBrief:
    """A ``/v1/groups/simple`` item: DEFAULT's gid as the string "-1", others as numbers,
    as BTC.COM's document shows them."""
    return GroupBrief(gid=str(gid) if gid == DEFAULT_GID else gid, name=name)


def node_sums(pool: Mapping[str, Any] | None, node: str) -> NodeSums:
    """A node's pool figures as exact difficulty sums (what merging needs)."""
    if pool is None:
        nothing = WindowDifficulty(0.0, 0.0, 0.0)
        return NodeSums(node=node, accept=nothing, rejected=nothing, workers=0, users=0)
    return NodeSums(
        node=node,
        accept=WindowDifficulty(*(float(pool[f"accept_{w}"]) for w in SHORT)),
        rejected=WindowDifficulty(
            *(float(pool[f"reject_{w}"] + pool[f"stale_{w}"]) for w in SHORT)
        ),
        workers=int(pool["workers_active"]),
        users=int(pool["users_active"]),
    )


def pool_stats(nodes: Sequence[NodeSums]) -> PoolStats:
    """The nodes' figures added up. Numbers, not strings, in this one answer (BTC.COM's
    example: ``114.6``); reject fractions rounded to 4 decimals."""
    accept = [sum(getattr(n.accept, f"w{w}") for n in nodes) for w in SHORT]
    rejected = [sum(getattr(n.rejected, f"w{w}") for n in nodes) for w in SHORT]
    rates = [hashrate_hs(a, WINDOW_S[w]) for a, w in zip(accept, SHORT, strict=True)]
    unit, size = pick_unit(rates)
    m1, m5, m15 = (float(four_significant(r / size)) for r in rates)
    fractions = [round(reject_fraction(a, r), 4) for a, r in zip(accept, rejected, strict=True)]
    return PoolStats(
        shares=PoolShares(shares_1m=m1, shares_5m=m5, shares_15m=m15, shares_unit=unit),
        reject=PoolReject(*fractions),
        workers=sum(n.workers for n in nodes),
        users=sum(n.users for n in nodes),
    )


def mask_phone(number: str) -> str:
    """``13312343333`` -> ``133****3333``: the first 3 and last 4 digits stay; shorter numbers
    keep only their last 2."""
    if len(number) >= 8:
        return number[:3] + "*" * (len(number) - 7) + number[-4:]
    return "*" * max(len(number) - 2, 0) + number[-2:] if number else ""


def account_info(profile: Mapping[str, Any], alert: AlertSettings) -> AccountInfo:
    return AccountInfo(
        user_id=int(profile["puid"]),
        user_name=profile["name"],
        address=profile["address"],
        nmc_address=profile["nmc_address"],
        rebates_address=profile["rebates_address"],
        region=profile["region"],
        contact=Contact(
            mail=profile["mail"],
            phone=Phone(
                country=profile["phone_country"], number=mask_phone(profile["phone_number"])
            ),
        ),
        alert=alert,
        pay_limit=btc_text(int(profile["min_payout_sat"])),
    )


def utc_datetime(ts: int) -> str:
    """BTC.COM's way of writing a time: "2017-02-13 01:45:37" (UTC)."""
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def payment_time(ts: int) -> str:
    """``utc_datetime``, and "0" for never."""
    return utc_datetime(ts) if ts else "0"


def earn_stats(b: Balance) -> EarnStats:
    """Amounts in satoshis, as decimal strings (the document's types)."""
    return EarnStats(
        total_paid=str(b.total_paid),
        pending_payouts=str(b.pending),
        last_payment_time=payment_time(b.last_payment_time),
        earnings_today=str(b.today),
        earnings_yesterday=str(b.yesterday),
        unpaid=str(b.unpaid),
    )


def earnings_rate(amount_sat: int, accepted_diff: float) -> float:
    """BTC earned per PH/s of the day's average accepted hashrate (0 without work)."""
    ph_s = hashrate_hs(accepted_diff, SECONDS_PER_DAY) / 1e15
    return round(amount_sat / COIN / ph_s, 8) if ph_s > 0 else 0.0


def earn_item(day: EarningsDay) -> EarnItem:
    paid = day.status == "paid"
    return EarnItem(
        date=int(dt.datetime.fromtimestamp(day.day, dt.UTC).strftime("%Y%m%d")),
        earnings=day.amount_sat,
        payment_time=payment_time(day.paid_at),
        payment_tx=day.txid,
        address=day.address,
        paid_amount=day.amount_sat if paid else 0,
        diff=math.floor(day.difficulty),
        payment_mode=day.payment_mode,
        earnings_rate=earnings_rate(day.amount_sat, day.accepted_diff),
    )


def earn_history(page: int, page_size: int, total: int, days: list[EarningsDay]) -> EarnHistory:
    return EarnHistory(
        page=str(page),
        page_size=str(page_size),
        page_count=page_count(total, page_size),
        total_count=total,
        items=[earn_item(d) for d in days],
    )
