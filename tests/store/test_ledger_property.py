"""The ledger's invariant under any order of operations: for every sub-account,
Σ earnings = total paid + pending payouts + unpaid, to the satoshi, and the batches' own
records agree with the balances."""

from __future__ import annotations

import tempfile
from collections import defaultdict
from fractions import Fraction
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from poolstats.store import SqliteStore, ledger
from poolstats.store.ledger import BatchStatus
from tests.store.contract.test_ledger_port import ADDR1, ADDR2, D0, DAY, book

FEE = Fraction(3, 100)
NOW = D0 + 10 * DAY

operation = st.one_of(
    st.tuples(st.just("work"), st.integers(0, 2), st.integers(0, 5), st.integers(1, 10**6)),
    st.tuples(st.just("settle"), st.integers(0, 5)),
    st.tuples(st.just("batch")),
    st.tuples(st.just("confirm"), st.integers(0, 5)),
    st.tuples(st.just("cancel"), st.integers(0, 5)),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operation, min_size=1, max_size=25))
def test_every_satoshi_is_unpaid_pending_or_paid(ops: list[tuple]) -> None:  # type: ignore[type-arg]
    with tempfile.TemporaryDirectory() as tmp, SqliteStore.open(Path(tmp)) as store:
        store.record_network(D0, "1000", 840_000, 0, "cli", D0)
        puids = [store.create_user(n, D0).puid for n in ("a", "b", "c")]
        store.update_subaccount_profile(puids[0], {"address": ADDR1, "min_payout_sat": 1}, D0)
        store.update_subaccount_profile(puids[1], {"address": ADDR2}, D0)  # 0.005 BTC minimum
        for op in ops:
            if op[0] == "work":
                _, who, day, units = op
                book(store, (puids[who], D0 + day * DAY, D0, Fraction(units, 7), 0))
            elif op[0] == "settle":
                done = ledger.settled_through(store)
                if done is None or D0 + op[1] * DAY > done:
                    ledger.settle(store, D0 + op[1] * DAY, NOW, FEE)
            elif op[0] == "batch":
                ledger.create_batch(store, NOW)
            else:
                ids = [b.id for b in ledger.batches(store) if b.status is BatchStatus.PENDING]
                if ids:
                    target = ids[op[1] % len(ids)]
                    if op[0] == "confirm":
                        ledger.confirm_batch(store, target, f"{target:064x}", NOW)
                    else:
                        ledger.cancel_batch(store, target, NOW)
            check(store, puids)


def check(store: SqliteStore, puids: list[int]) -> None:
    totals = ledger.totals(store)
    by_status: dict[tuple[int, BatchStatus], int] = defaultdict(int)
    for batch in ledger.batches(store):
        for p in batch.payouts:
            by_status[(p.puid, batch.status)] += p.amount_sat
    for puid in puids:
        b = ledger.balance(store, puid, NOW, FEE)
        assert totals.get(puid, 0) == b.total_paid + b.pending + b.unpaid == b.earned
        assert b.total_paid == by_status[(puid, BatchStatus.PAID)]
        assert b.pending == by_status[(puid, BatchStatus.PENDING)]
        assert b.unpaid >= 0
