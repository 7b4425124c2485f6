"""The earnings ledger: daily settlement of booked work, balances and payout batches.

Every satoshi a sub-account has earned is in exactly one place: an ``earnings`` row with no
batch (unpaid), in a pending batch, or in a paid one; a cancelled batch hands its rows back to
unpaid. So Σ earnings = total paid + pending payouts + unpaid holds by construction, whatever
order settlements, batches and confirmations come in.

Settlement values each (sub-account, day) exactly (``domain.earnings``) with the sub-account's
payment mode and fee rate at the time it runs, rounds the day's sum down once, and moves the
``settled_through`` mark in the same transaction that deletes the settled work, so running it
twice changes nothing. Work flushed later for a settled day is booked into the first unsettled
day (``flush_sql.WORK_UPSERT``), valued at the network state of its own time: never lost.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa

from poolstats.domain.earnings import (
    SECONDS_PER_DAY,
    NetworkState,
    PaymentMode,
    parse_fee_rate,
    settle_parts,
)
from poolstats.engine.work import NO_STATE, UNITS_PER_DIFF, Timeline
from poolstats.store import schema
from poolstats.store.flush_sql import WORK_SPLIT_BITS
from poolstats.store.ports.unit_of_work import UnitOfWork

_work = schema.work
_earn = schema.earnings
_batches = schema.payout_batches
_payouts = schema.payouts
_subs = schema.subaccounts
_net = schema.network_history
_meta = schema.meta
# SQL text, not a bound value: PostgreSQL sees the same expression in SELECT and GROUP BY
_UNPAID: sa.ColumnElement[str] = sa.literal_column("'unpaid'")
log = logging.getLogger(__name__)
_TXID = re.compile(r"[0-9a-f]{64}")


class LedgerError(ValueError):
    """An operation the ledger refuses, with a message for the operator."""


class BatchStatus(StrEnum):
    PENDING = "pending"  # written out, waiting for its transaction to be confirmed
    PAID = "paid"
    CANCELLED = "cancelled"  # its earnings went back to unpaid


def day_start(ts: float) -> int:
    return int(ts // SECONDS_PER_DAY) * SECONDS_PER_DAY


def day_text(day: int) -> str:
    return dt.datetime.fromtimestamp(day, dt.UTC).strftime("%Y-%m-%d")


def parse_day(text: str) -> int:
    """A UTC day given as YYYY-MM-DD, as the unix time of its start."""
    try:
        date = dt.datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=dt.UTC)
    except ValueError:
        raise LedgerError(f"day: expected YYYY-MM-DD, got {text!r}") from None
    return int(date.timestamp())


def _settled_through(conn: sa.Connection) -> int | None:
    value = conn.execute(
        sa.select(_meta.c.value).where(_meta.c.key == schema.SETTLED_THROUGH_KEY)
    ).scalar_one_or_none()
    return None if value is None else int(value)


def settled_through(store: UnitOfWork) -> int | None:
    """Start of the newest settled UTC day, or ``None`` before the first settlement."""
    with store.read() as conn:
        return _settled_through(conn)


def network_version(store: UnitOfWork) -> tuple[int, int]:
    """Changes whenever a network state is added or updated (``record_network`` stamps
    ``recorded_at``), read without loading the states."""
    with store.read() as conn:
        count, newest = conn.execute(
            sa.select(sa.func.count(), sa.func.coalesce(sa.func.max(_net.c.recorded_at), 0))
        ).one()
    return int(count), int(newest)


def timeline(store: UnitOfWork) -> Timeline:
    """The engine's capping timeline: every recorded state's time and difficulty."""
    with store.read() as conn:
        states = Network.load(conn).states
    return Timeline.of((at, state.difficulty) for at, state in states.items())


# --- valuation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Network:
    """The network history as settlement needs it: states by ``at``, in order."""

    states: dict[int, NetworkState]

    @classmethod
    def load(cls, conn: sa.Connection, only: Collection[int] | None = None) -> Network:
        """Every state, or those at ``only`` and the first (what work booked before any
        state is valued at): an estimate needs a few states, not years of them."""
        stmt = sa.select(_net).order_by(_net.c.at)
        if only is not None:
            first = sa.select(sa.func.min(_net.c.at)).scalar_subquery()
            stmt = stmt.where(sa.or_(_net.c.at.in_(sorted(only)), _net.c.at == first))
        rows = conn.execute(stmt).all()
        return cls(
            {
                r.at: NetworkState(Fraction(r.difficulty), r.height, r.fees_per_block_sat)
                for r in rows
            }
        )

    def state(self, net_at: int) -> NetworkState:
        """The state work was booked against; work booked before any state was known is
        valued at the first one recorded."""
        if not self.states:
            raise LedgerError(
                "no network state is recorded: run `poolstats network set --difficulty D "
                "--height H` (or set bitcoind_url) before settling"
            )
        if net_at == NO_STATE:
            return next(iter(self.states.values()))  # loaded in order of ``at``
        try:
            return self.states[net_at]
        except KeyError:
            raise LedgerError(f"work refers to a network state at {net_at} that is gone") from None

    def at_end_of(self, day: int) -> NetworkState | None:
        """The state in force at the day's last second (what earn-history shows as ``diff``)."""
        known = [at for at in self.states if at < day + SECONDS_PER_DAY]
        return self.states[max(known)] if known else None


@dataclass(frozen=True)
class Terms:
    """How a sub-account is paid: its mode and fee rate (its own, or the pool's)."""

    mode: PaymentMode
    fee_rate: Fraction

    @classmethod
    def of(cls, row: Any, default_fee: Fraction) -> Terms:
        fee = default_fee if row.fee_rate is None else parse_fee_rate(row.fee_rate)
        return cls(PaymentMode(row.payment_mode), fee)


def _terms(conn: sa.Connection, puids: Sequence[int], default_fee: Fraction) -> dict[int, Terms]:
    rows = conn.execute(
        sa.select(_subs.c.puid, _subs.c.payment_mode, _subs.c.fee_rate).where(
            _subs.c.puid.in_(sorted(set(puids)))
        )
    ).all()
    return {r.puid: Terms.of(r, default_fee) for r in rows}


WorkRow = tuple[int, int, int, int, int, int]  # day, puid, net_at, diff_hi, diff_lo, capped


def value(rows: Sequence[WorkRow], network: Network, terms: Terms) -> int:
    """One sub-account's day: every part valued exactly, the sum rounded down once."""
    return settle_parts(
        (((hi << WORK_SPLIT_BITS) + lo, capped, network.state(net_at))
         for _, _, net_at, hi, lo, capped in rows),
        UNITS_PER_DIFF,
        terms.mode,
        terms.fee_rate,
    )  # fmt: skip


def _work_rows(conn: sa.Connection, *where: sa.ColumnElement[bool]) -> list[WorkRow]:
    """Read by position, not by name: a month of hourly entries is close to a million rows."""
    w = _work.c
    stmt = sa.select(w.day, w.puid, w.net_at, w.diff_hi, w.diff_lo, w.capped)
    rows = conn.execute(stmt.where(*where).order_by(*_work.primary_key)).all()
    return cast(list[WorkRow], rows)  # rows unpack as tuples


# --- settlement -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Settlement:
    days: list[int]  # days settled by this run (with or without work)
    rows: int  # earnings rows written
    total_sat: int
    settled_through: int | None
    already: bool = False  # nothing to do: the day was settled before


def settle(
    store: UnitOfWork,
    through: int,
    now: int,
    default_fee: Fraction,
    guard: Callable[[sa.Connection], None] | None = None,
) -> Settlement:
    """Settle every unsettled UTC day up to and including the one starting at ``through``.

    ``guard`` runs last inside the settlement's transaction, just before its commit (the
    jobs process's lease check, which locks the lease row: held from there to the commit
    only, so a long settlement does not hold up the lease's renewals); when it raises,
    nothing is written."""
    through = day_start(through)
    if through + SECONDS_PER_DAY > now:
        raise LedgerError(f"day: {day_text(through)} has not ended yet (UTC)")
    with store.write() as conn:
        done = _settled_through(conn)
        if done is not None and through <= done:
            return Settlement([], 0, 0, done, already=True)
        rows = _work_rows(conn, _work.c.day <= through)
        by_day: dict[tuple[int, int], list[WorkRow]] = defaultdict(list)
        for r in rows:
            by_day[(r[0], r[1])].append(r)
        network = Network.load(conn)
        terms = _terms(conn, [puid for _, puid in by_day], default_fee)
        unknown = {puid for _, puid in by_day} - set(terms)
        if unknown:  # only a hand-edited database gets here: keep the work, say so
            log.warning("work of unknown sub-accounts %s is left unsettled", sorted(unknown))
            by_day = {k: v for k, v in by_day.items() if k[1] not in unknown}
        days = sorted({day for day, _ in by_day})
        accepted = _accepted_diff(conn, days)  # for earnings_rate
        end_difficulty = {
            day: _fraction_text((network.at_end_of(day) or network.state(NO_STATE)).difficulty)
            for day in days
        }
        settled: list[dict[str, Any]] = []
        for (day, puid), parts in sorted(by_day.items()):
            settled.append(
                {
                    "puid": puid,
                    "day": day,
                    "amount_sat": value(parts, network, terms[puid]),
                    "payment_mode": terms[puid].mode.value,
                    "fee_rate": _fraction_text(terms[puid].fee_rate),
                    "difficulty": end_difficulty[day],
                    "accepted_diff": accepted.get((puid, day), 0.0),
                    "batch_id": None,
                    "settled_at": now,
                }
            )
        if settled:
            conn.execute(sa.insert(_earn), settled)
        conn.execute(
            sa.delete(_work).where(_work.c.day <= through, _work.c.puid.not_in(sorted(unknown)))
        )
        _set_meta(conn, schema.SETTLED_THROUGH_KEY, str(through))
        if guard is not None:
            guard(conn)
    first = (
        done + SECONDS_PER_DAY if done is not None else min((d for d, _ in by_day), default=through)
    )
    total = sum(row["amount_sat"] for row in settled)
    return Settlement(
        list(range(first, through + 1, SECONDS_PER_DAY)), len(settled), total, through
    )


def _accepted_diff(conn: sa.Connection, days: list[int]) -> dict[tuple[int, int], float]:
    """The days' accepted difficulty per sub-account, from the daily history buckets."""
    h = schema.history_subaccount
    rows = conn.execute(
        sa.select(h.c.puid, h.c.start, h.c.accept).where(
            h.c.period_s == SECONDS_PER_DAY, h.c.start.in_(days)
        )
    ).all()
    return {(r.puid, r.start): float(r.accept) for r in rows}


def _fraction_text(value: Fraction) -> str:
    """An exact decimal for a fraction whose denominator divides a power of ten (fee rates,
    difficulties from decimal text); anything else as ``n/d``."""
    if value.denominator == 1:
        return str(value.numerator)
    for places in range(1, 40):
        scaled = value * 10**places
        if scaled.denominator == 1:
            sign = "-" if scaled < 0 else ""
            digits = str(abs(scaled.numerator)).rjust(places + 1, "0")
            return f"{sign}{digits[:-places]}.{digits[-places:]}"
    return f"{value.numerator}/{value.denominator}"


def _set_meta(conn: sa.Connection, key: str, value: str) -> None:
    conn.execute(
        sa.text(
            "INSERT INTO meta (key, value) VALUES (:key, :value) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
        ),
        {"key": key, "value": value},
    )


# --- balances -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Balance:
    total_paid: int
    pending: int
    unpaid: int
    last_payment_time: int  # 0: never paid
    today: int  # settled, else estimated from the work booked so far
    yesterday: int

    @property
    def earned(self) -> int:
        return self.total_paid + self.pending + self.unpaid


def balance(store: UnitOfWork, puid: int, now: int, default_fee: Fraction) -> Balance:
    """One read transaction, so the figures agree with each other."""
    today = day_start(now)
    yesterday = today - SECONDS_PER_DAY
    with store.read() as conn:
        sums = dict(
            conn.execute(
                sa.select(
                    sa.func.coalesce(_batches.c.status, _UNPAID), sa.func.sum(_earn.c.amount_sat)
                )
                .select_from(_earn.outerjoin(_batches, _batches.c.id == _earn.c.batch_id))
                .where(_earn.c.puid == puid)
                .group_by(sa.func.coalesce(_batches.c.status, _UNPAID))
            ).all()
        )
        last_paid = conn.execute(
            sa.select(sa.func.max(_batches.c.closed_at))
            .select_from(_payouts.join(_batches, _batches.c.id == _payouts.c.batch_id))
            .where(_payouts.c.puid == puid, _batches.c.status == BatchStatus.PAID.value)
        ).scalar_one()
        settled = dict(
            conn.execute(
                sa.select(_earn.c.day, _earn.c.amount_sat).where(
                    _earn.c.puid == puid, _earn.c.day.in_([today, yesterday])
                )
            ).all()
        )
        estimates = _estimates(conn, puid, [today, yesterday], default_fee)
    return Balance(
        total_paid=int(sums.get(BatchStatus.PAID.value, 0)),
        pending=int(sums.get(BatchStatus.PENDING.value, 0)),
        unpaid=int(sums.get("unpaid", 0)),
        last_payment_time=int(last_paid or 0),
        today=int(settled.get(today, estimates.get(today, 0))),
        yesterday=int(settled.get(yesterday, estimates.get(yesterday, 0))),
    )


def _estimates(
    conn: sa.Connection, puid: int, days: list[int], default_fee: Fraction
) -> dict[int, int]:
    """What the work booked so far into each unsettled day would settle at now."""
    rows = _work_rows(conn, _work.c.puid == puid, _work.c.day.in_(days))
    if not rows:
        return {}
    network = Network.load(conn, {net_at for _, _, net_at, _, _, _ in rows})
    if not network.states:
        return {}
    terms = _terms(conn, [puid], default_fee)[puid]
    by_day: dict[int, list[WorkRow]] = defaultdict(list)
    for r in rows:
        by_day[r[0]].append(r)
    return {day: value(parts, network, terms) for day, parts in by_day.items()}


@dataclass(frozen=True)
class EarningsDay:
    day: int
    amount_sat: int
    payment_mode: str
    difficulty: Fraction
    accepted_diff: float
    status: str  # "unpaid" or a BatchStatus
    address: str
    txid: str
    paid_at: int  # 0 unless paid


def earnings_page(
    store: UnitOfWork, puid: int, offset: int, limit: int
) -> tuple[int, list[EarningsDay]]:
    """(total days, the page newest first) in one read transaction."""
    with store.read() as conn:
        total = conn.execute(
            sa.select(sa.func.count()).select_from(_earn).where(_earn.c.puid == puid)
        ).scalar_one()
        rows = conn.execute(
            sa.select(
                _earn,
                _batches.c.status,
                _batches.c.txid,
                _batches.c.closed_at,
                _payouts.c.address,
            )
            .select_from(
                _earn.outerjoin(_batches, _batches.c.id == _earn.c.batch_id).outerjoin(
                    _payouts,
                    sa.and_(
                        _payouts.c.batch_id == _earn.c.batch_id, _payouts.c.puid == _earn.c.puid
                    ),
                )
            )
            .where(_earn.c.puid == puid)
            .order_by(_earn.c.day.desc())
            .offset(offset)
            .limit(limit)
        ).all()
    return int(total), [
        EarningsDay(
            day=r.day,
            amount_sat=r.amount_sat,
            payment_mode=r.payment_mode,
            difficulty=Fraction(r.difficulty),
            accepted_diff=r.accepted_diff,
            status=r.status or "unpaid",
            address=r.address or "",
            txid=(r.txid or "") if r.status == BatchStatus.PAID.value else "",
            paid_at=(r.closed_at or 0) if r.status == BatchStatus.PAID.value else 0,
        )
        for r in rows
    ]


# --- payouts --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Payout:
    puid: int
    name: str
    address: str
    amount_sat: int


@dataclass(frozen=True)
class Batch:
    id: int
    created_at: int
    status: BatchStatus
    txid: str
    closed_at: int
    payouts: list[Payout] = field(default_factory=list)

    @property
    def total_sat(self) -> int:
        return sum(p.amount_sat for p in self.payouts)


@dataclass(frozen=True)
class NewBatch:
    batch: Batch | None  # None: nobody is due
    no_address: list[int]  # puids due a payout but without a payout address


def create_batch(store: UnitOfWork, now: int) -> NewBatch:
    """One pending batch paying every sub-account whose unpaid balance reaches its minimum
    (and is above zero) its whole unpaid balance, to the address it has now."""
    unpaid = sa.func.sum(_earn.c.amount_sat)
    with store.write() as conn:
        due = conn.execute(
            sa.select(_subs.c.puid, _subs.c.name, _subs.c.address, unpaid.label("unpaid"))
            .select_from(_earn.join(_subs, _subs.c.puid == _earn.c.puid))
            .where(_earn.c.batch_id.is_(None))
            .group_by(_subs.c.puid)
            .having(sa.and_(unpaid > 0, unpaid >= _subs.c.min_payout_sat))
            .order_by(_subs.c.puid)
        ).all()
        payable = [r for r in due if r.address]
        no_address = [r.puid for r in due if not r.address]
        if not payable:
            return NewBatch(None, no_address)
        batch_id = conn.execute(
            sa.insert(_batches)
            .values(created_at=now, status=BatchStatus.PENDING.value)
            .returning(_batches.c.id)
        ).scalar_one()
        payouts = [Payout(r.puid, r.name, r.address, int(r.unpaid)) for r in payable]
        conn.execute(
            sa.insert(_payouts),
            [
                {
                    "batch_id": batch_id,
                    "puid": p.puid,
                    "address": p.address,
                    "amount_sat": p.amount_sat,
                }
                for p in payouts
            ],
        )
        conn.execute(
            sa.update(_earn)
            .where(_earn.c.batch_id.is_(None), _earn.c.puid.in_([p.puid for p in payouts]))
            .values(batch_id=batch_id)
        )
    return NewBatch(Batch(batch_id, now, BatchStatus.PENDING, "", 0, payouts), no_address)


def _batch(conn: sa.Connection, batch_id: int) -> Batch:
    row = conn.execute(sa.select(_batches).where(_batches.c.id == batch_id)).first()
    if row is None:
        raise LedgerError(f"batch: no payout batch {batch_id}")
    payouts = conn.execute(
        sa.select(_payouts.c.puid, _subs.c.name, _payouts.c.address, _payouts.c.amount_sat)
        .select_from(_payouts.join(_subs, _subs.c.puid == _payouts.c.puid))
        .where(_payouts.c.batch_id == batch_id)
        .order_by(_payouts.c.puid)
    ).all()
    return Batch(
        row.id,
        row.created_at,
        BatchStatus(row.status),
        row.txid or "",
        row.closed_at or 0,
        [Payout(p.puid, p.name, p.address, p.amount_sat) for p in payouts],
    )


def batch(store: UnitOfWork, batch_id: int) -> Batch:
    with store.read() as conn:
        return _batch(conn, batch_id)


def batches(store: UnitOfWork) -> list[Batch]:
    with store.read() as conn:
        ids = conn.execute(sa.select(_batches.c.id).order_by(_batches.c.id)).scalars().all()
        return [_batch(conn, i) for i in ids]


def confirm_batch(store: UnitOfWork, batch_id: int, txid: str, now: int) -> Batch:
    """Mark a pending batch paid by ``txid``; confirming again with the same txid is a no-op."""
    txid = txid.strip().lower()
    if not _TXID.fullmatch(txid):
        raise LedgerError(f"txid: expected 64 hexadecimal digits, got {txid!r}")
    with store.write() as conn:
        current = _batch(conn, batch_id)
        if current.status is BatchStatus.PAID and current.txid == txid:
            return current
        if current.status is not BatchStatus.PENDING:
            raise LedgerError(f"batch: {batch_id} is {current.status.value}, not pending")
        conn.execute(
            sa.update(_batches)
            .where(_batches.c.id == batch_id)
            .values(status=BatchStatus.PAID.value, txid=txid, closed_at=now)
        )
        return _batch(conn, batch_id)


def cancel_batch(store: UnitOfWork, batch_id: int, now: int) -> Batch:
    """Give a pending batch's earnings back to unpaid (its transaction was never sent)."""
    with store.write() as conn:
        current = _batch(conn, batch_id)
        if current.status is not BatchStatus.PENDING:
            raise LedgerError(f"batch: {batch_id} is {current.status.value}, not pending")
        conn.execute(sa.update(_earn).where(_earn.c.batch_id == batch_id).values(batch_id=None))
        conn.execute(
            sa.update(_batches)
            .where(_batches.c.id == batch_id)
            .values(status=BatchStatus.CANCELLED.value, closed_at=now)
        )
        return _batch(conn, batch_id)


def totals(store: UnitOfWork) -> Mapping[int, int]:
    """Σ earnings per sub-account, for checks."""
    with store.read() as conn:
        return dict(
            conn.execute(
                sa.select(_earn.c.puid, sa.func.sum(_earn.c.amount_sat)).group_by(_earn.c.puid)
            ).all()
        )


if TYPE_CHECKING:  # this module is the ledger port's implementation
    from poolstats.store import ledger as _this
    from poolstats.store.ports.ledger import LedgerPort

    _conforms: LedgerPort = _this
