"""The ledger port's contract: settlement, balances and payout batches, on every backend.

Expected amounts are worked out by hand in the comments; the subsidy at height 840000 is
3.125 BTC = 312,500,000 sat, at 839999 6.25 BTC.
"""

from __future__ import annotations

import csv
import io
import json
from fractions import Fraction
from pathlib import Path

import pytest
import sqlalchemy as sa

from poolstats.earnings.payouts import write_batch_files
from poolstats.engine.work import NO_STATE, UNITS_PER_DIFF, Timeline, WorkRows
from poolstats.store import SqliteStore, ledger, schema
from poolstats.store.ledger import BatchStatus, LedgerError
from tests.store.helpers import make_flush

DAY = 86400
D0 = 19_700 * DAY  # 2023-12-09 00:00 UTC
NOW = D0 + 3 * DAY + 600
FEE = Fraction(2, 100)  # the pool's default
ADDR1 = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"
ADDR2 = "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"
TXID = "ab" * 32


def book(store: SqliteStore, *rows: tuple[int, int, int, Fraction, int]) -> None:
    """(puid, day, net_at, uncapped difficulty, capped shares) through the flush's upsert."""
    work = WorkRows(
        puid=[r[0] for r in rows],
        day=[r[1] for r in rows],
        net_at=[r[2] for r in rows],
        diff_q=[int(r[3] * UNITS_PER_DIFF) for r in rows],
        capped=[r[4] for r in rows],
    )
    store.write_flush(make_flush(now=NOW, work=work))


def earnings(store: SqliteStore) -> dict[tuple[int, int], int]:
    with store.read() as conn:
        e = schema.earnings
        return {(r.puid, r.day): r.amount_sat for r in conn.execute(sa.select(e))}


@pytest.fixture
def puids(store: SqliteStore) -> list[int]:
    return [store.create_user(name, D0).puid for name in ("alice", "bob", "carol")]


def test_difficulty_change_mid_day_is_valued_part_by_part_and_rounded_once(
    store: SqliteStore, puids: list[int]
) -> None:
    alice = puids[0]
    for i in range(3):  # three states of difficulty 3, each with 1 difficulty of work
        store.record_network(D0 + i * 3600, "3", 840_000, 0, "cli", D0)
        book(store, (alice, D0, D0 + i * 3600, Fraction(1), 0))
    store.record_network(D0 + 12 * 3600, "4000", 840_000, 0, "cli", D0)
    book(store, (alice, D0, D0 + 12 * 3600, Fraction(1000), 0))
    done = ledger.settle(store, D0, NOW, FEE)
    # 3 x 1/3 + 1000/4000 = 1.25 blocks x 312,500,000 x 0.98 = 382,812,500 exactly; rounding
    # each third apart would have lost a satoshi (3 x 102,083,333 + 76,562,500).
    assert earnings(store) == {(alice, D0): 382_812_500}
    assert (done.days, done.rows, done.total_sat) == ([D0], 1, 382_812_500)


def test_halving_mid_day_and_fppS_fees_and_own_fee_rates(
    store: SqliteStore, puids: list[int]
) -> None:
    alice, bob, carol = puids
    store.record_network(D0, "1000", 839_999, 12_345_678, "cli", D0)
    store.record_network(D0 + 6 * 3600, "1000", 840_000, 12_345_678, "cli", D0)
    store.update_subaccount_profile(alice, {"fee_rate": "0"}, D0)
    store.update_subaccount_profile(bob, {"payment_mode": "FPPS", "fee_rate": "0.015"}, D0)
    book(
        store,
        (alice, D0, D0, Fraction(1), 0),
        (alice, D0, D0 + 6 * 3600, Fraction(1), 0),
        (bob, D0, D0 + 6 * 3600, Fraction(500), 1),
        (carol, D0, D0 + 6 * 3600, Fraction(1, 3), 0),
    )
    ledger.settle(store, D0, NOW, FEE)
    assert earnings(store) == {
        # 1/1000 x 625,000,000 + 1/1000 x 312,500,000, no fee
        (alice, D0): 937_500,
        # (500/1000 + 1 capped) x (312,500,000 + 12,345,678) x 0.985 = 479,959,489.245
        (bob, D0): 479_959_489,
        # 1/3000 x 312,500,000 x 0.98 = 102,083.33 (the pool's fee)
        (carol, D0): 102_083,
    }


def test_settling_is_idempotent_and_only_for_ended_days(
    store: SqliteStore, puids: list[int]
) -> None:
    alice = puids[0]
    with pytest.raises(LedgerError, match="has not ended"):
        ledger.settle(store, NOW, NOW, FEE)
    book(
        store, (alice, D0, NO_STATE, Fraction(10), 0), (alice, D0 + DAY, NO_STATE, Fraction(20), 0)
    )
    with pytest.raises(LedgerError, match="no network state"):
        ledger.settle(store, D0, NOW, FEE)
    assert ledger.settled_through(store) is None  # nothing changed
    store.record_network(D0 + 100, "1000", 840_000, 0, "cli", D0)  # work before: valued at it
    first = ledger.settle(store, D0 + DAY, NOW, FEE)
    assert first.days == [D0, D0 + DAY] and not first.already
    before = earnings(store)
    # 10/1000 and 20/1000 of 306,250,000
    assert before == {(alice, D0): 3_062_500, (alice, D0 + DAY): 6_125_000}
    again = ledger.settle(store, D0 + DAY, NOW, FEE)
    assert again.already and earnings(store) == before
    assert ledger.settle(store, D0, NOW, FEE).already


def test_late_work_for_a_settled_day_goes_to_the_next_unsettled_day(
    store: SqliteStore, puids: list[int]
) -> None:
    alice = puids[0]
    store.record_network(D0, "1000", 839_999, 0, "cli", D0)
    store.record_network(D0 + DAY, "2000", 840_000, 0, "cli", D0)
    book(store, (alice, D0, D0, Fraction(100), 0))
    ledger.settle(store, D0, NOW, FEE)
    book(store, (alice, D0, D0, Fraction(100), 0))  # a replayed share of the settled day
    book(store, (alice, D0 + DAY, D0 + DAY, Fraction(200), 0))
    ledger.settle(store, D0 + DAY, NOW, FEE)
    assert earnings(store) == {
        (alice, D0): 61_250_000,  # 100/1000 x 625,000,000 x 0.98
        # the late 100 at its own state (61,250,000) + 200/2000 x 312,500,000 x 0.98
        (alice, D0 + DAY): 61_250_000 + 30_625_000,
    }


def test_today_and_yesterday_are_estimated_until_settled(
    store: SqliteStore, puids: list[int]
) -> None:
    alice = puids[0]
    store.record_network(D0, "1000", 840_000, 0, "cli", D0)
    today = ledger.day_start(NOW)
    book(store, (alice, today, D0, Fraction(10), 0), (alice, today - DAY, D0, Fraction(1), 0))
    b = ledger.balance(store, alice, NOW, FEE)
    assert (b.today, b.yesterday) == (3_062_500, 306_250)
    ledger.settle(store, today - DAY, NOW, FEE)
    b = ledger.balance(store, alice, NOW, FEE)
    assert (b.today, b.yesterday, b.unpaid) == (3_062_500, 306_250, 306_250)


def test_payout_batches_pay_whole_balances_to_their_addresses(
    store: SqliteStore, puids: list[int], tmp_path: Path
) -> None:
    alice, bob, carol = puids
    store.record_network(D0, "1000", 840_000, 0, "cli", D0)
    store.update_subaccount_profile(alice, {"address": ADDR1}, D0)
    store.update_subaccount_profile(carol, {"address": ADDR1, "min_payout_sat": 100_000}, D0)
    # alice 306,250,000 + 3,062,500; bob the same but no address; carol 30,625 < her minimum
    for day in (D0, D0 + DAY):
        book(
            store,
            (alice, day, D0, Fraction(1000 if day == D0 else 10), 0),
            (bob, day, D0, Fraction(1000 if day == D0 else 10), 0),
            (carol, day, D0, Fraction(1, 20), 0),
        )
    ledger.settle(store, D0 + DAY, NOW, FEE)
    new = ledger.create_batch(store, NOW)
    assert new.no_address == [bob]
    assert new.batch is not None
    assert [(p.puid, p.address, p.amount_sat) for p in new.batch.payouts] == [
        (alice, ADDR1, 309_312_500)
    ]
    assert ledger.create_batch(store, NOW).batch is None  # nothing left due
    files = write_batch_files(new.batch, tmp_path / "out")
    rows = list(csv.DictReader(io.StringIO(files.csv.read_text())))
    assert rows == [
        {
            "batch_id": str(new.batch.id),
            "puid": str(alice),
            "user_name": "alice",
            "address": ADDR1,
            "amount_sat": "309312500",
            "amount_btc": "3.09312500",
        }
    ]
    assert files.sendmany.read_text() == '{\n  "' + ADDR1 + '": 3.09312500\n}\n'
    assert json.loads(files.sendmany.read_text()) == {ADDR1: 3.093125}

    pending = ledger.balance(store, alice, NOW, FEE)
    assert (pending.pending, pending.unpaid, pending.total_paid) == (309_312_500, 0, 0)
    with pytest.raises(LedgerError, match="txid"):
        ledger.confirm_batch(store, new.batch.id, "xyz", NOW)
    paid = ledger.confirm_batch(store, new.batch.id, TXID.upper(), NOW + 5)
    assert (paid.status, paid.txid, paid.closed_at) == (BatchStatus.PAID, TXID, NOW + 5)
    assert ledger.confirm_batch(store, new.batch.id, TXID, NOW + 9).closed_at == NOW + 5
    with pytest.raises(LedgerError, match="paid, not pending"):
        ledger.confirm_batch(store, new.batch.id, "cd" * 32, NOW)
    with pytest.raises(LedgerError, match="paid, not pending"):
        ledger.cancel_batch(store, new.batch.id, NOW)
    b = ledger.balance(store, alice, NOW, FEE)
    assert (b.total_paid, b.pending, b.unpaid, b.last_payment_time) == (309_312_500, 0, 0, NOW + 5)
    total, days = ledger.earnings_page(store, alice, 0, 10)
    assert total == 2
    assert [(d.day, d.amount_sat, d.status, d.txid, d.address, d.paid_at) for d in days] == [
        (D0 + DAY, 3_062_500, "paid", TXID, ADDR1, NOW + 5),
        (D0, 306_250_000, "paid", TXID, ADDR1, NOW + 5),
    ]


def test_cancelled_batches_give_their_earnings_back(store: SqliteStore, puids: list[int]) -> None:
    alice = puids[0]
    store.record_network(D0, "1000", 840_000, 0, "cli", D0)
    store.update_subaccount_profile(alice, {"address": ADDR2}, D0)
    book(store, (alice, D0, D0, Fraction(1000), 0))
    ledger.settle(store, D0, NOW, FEE)
    first = ledger.create_batch(store, NOW).batch
    assert first is not None
    cancelled = ledger.cancel_batch(store, first.id, NOW)
    assert cancelled.status is BatchStatus.CANCELLED
    assert ledger.balance(store, alice, NOW, FEE).unpaid == 306_250_000
    second = ledger.create_batch(store, NOW).batch
    assert second is not None and second.id != first.id and second.total_sat == 306_250_000
    with pytest.raises(LedgerError, match="no payout batch 999"):
        ledger.confirm_batch(store, 999, TXID, NOW)
    listed = ledger.batches(store)
    assert [(b.id, b.status) for b in listed] == [
        (first.id, BatchStatus.CANCELLED),
        (second.id, BatchStatus.PENDING),
    ]
    assert listed == [ledger.batch(store, first.id), ledger.batch(store, second.id)]
    assert ledger.totals(store) == {alice: 306_250_000}  # earned once, however often batched


def test_work_of_an_unknown_sub_account_is_kept_not_settled(
    store: SqliteStore, puids: list[int]
) -> None:
    store.record_network(D0, "1000", 840_000, 0, "cli", D0)
    book(store, (999, D0, D0, Fraction(5), 0), (puids[0], D0, D0, Fraction(1), 0))
    ledger.settle(store, D0, NOW, FEE)
    assert earnings(store) == {(puids[0], D0): 306_250}
    with store.read() as conn:
        left = conn.execute(sa.select(schema.work.c.puid)).scalars().all()
    assert left == [999]


def test_network_version_and_timeline_follow_every_recorded_state(store: SqliteStore) -> None:
    assert ledger.network_version(store) == (0, 0)
    assert ledger.timeline(store).at.tolist() == []
    store.record_network(D0 + DAY, "2000", 840_100, 0, "cli", D0 + 7)
    store.record_network(D0, "1000.5", 840_000, 0, "cli", D0 + 9)
    assert ledger.network_version(store) == (2, D0 + 9)
    store.record_network(D0, "1000.5", 840_000, 0, "cli", D0 + 11)  # the same: not written
    assert ledger.network_version(store) == (2, D0 + 9)
    store.record_network(D0, "1500", 840_000, 0, "cli", D0 + 12)  # an update moves it
    assert ledger.network_version(store) == (2, D0 + 12)
    got = ledger.timeline(store)
    want = Timeline.of([(D0 + DAY, Fraction(2000)), (D0, Fraction(1500))])
    assert got.at.tolist() == [D0, D0 + DAY]
    assert got.threshold.tolist() == want.threshold.tolist()
