"""Leases: one holder at a time, a new epoch per new holder, stale holders fenced out."""

from __future__ import annotations

import pytest

from poolstats.store import leases
from poolstats.store.base import Store

T = 1_800_000_000.0
TTL = 6.0


def take(store: Store, holder: str, now: float, name: str = "aggregate/0") -> int | None:
    with store.write() as conn:  # type: ignore[attr-defined]
        return leases.acquire(conn, name, holder, now, TTL)


def test_the_first_taker_holds_and_others_wait_for_expiry(store: Store) -> None:
    assert take(store, "a", T) == 1
    assert take(store, "b", T + TTL - 0.001) is None  # not yet expired
    assert take(store, "a", T + 1) == 1  # its own again: same epoch
    assert take(store, "b", T + 1 + TTL) == 2  # expired: b, a new epoch
    assert take(store, "a", T + 1 + TTL) is None
    with store.read() as conn:  # type: ignore[attr-defined]
        (lease,) = leases.leases(conn)
    assert (lease.holder, lease.epoch, lease.expires_at) == ("b", 2, T + 1 + 2 * TTL)


def test_renewal_keeps_a_lease_past_its_first_expiry(store: Store) -> None:
    assert take(store, "a", T) == 1
    with store.write() as conn:  # type: ignore[attr-defined]
        assert leases.renew(conn, "aggregate/0", "a", 1, T + 5, TTL)
    assert take(store, "b", T + 7) is None  # would have expired at T + 6 without the renewal
    assert take(store, "b", T + 11) == 2


def test_a_stale_holder_can_neither_renew_nor_pass_the_check(store: Store) -> None:
    assert take(store, "a", T) == 1
    assert take(store, "b", T + TTL) == 2
    with store.write() as conn:  # type: ignore[attr-defined]
        assert not leases.renew(conn, "aggregate/0", "a", 1, T + TTL, TTL)
        with pytest.raises(leases.LeaseLost):
            leases.check(conn, "aggregate/0", "a", 1)
        leases.check(conn, "aggregate/0", "b", 2)  # the new holder passes


def test_release_lets_the_next_taker_in_at_once(store: Store) -> None:
    assert take(store, "a", T) == 1
    with store.write() as conn:  # type: ignore[attr-defined]
        leases.release(conn, "aggregate/0", "a", 1)
    assert take(store, "b", T + 0.5) == 2


def test_leases_of_different_names_are_independent(store: Store) -> None:
    assert take(store, "a", T, "aggregate/0") == 1
    assert take(store, "b", T, "aggregate/1") == 1
    assert take(store, "b", T, "jobs") == 1
    with store.read() as conn:  # type: ignore[attr-defined]
        held = [(lease.name, lease.holder) for lease in leases.leases(conn)]
    assert held == [("aggregate/0", "a"), ("aggregate/1", "b"), ("jobs", "b")]


def test_a_flush_whose_writer_lost_its_lease_writes_nothing(store: Store) -> None:
    from poolstats.store.base import FlushWriter
    from poolstats.store.schema import partition_seq_key
    from tests.store.helpers import make_flush

    assert take(store, "a", T) == 1
    assert take(store, "b", T + TTL) == 2  # a paused past its lease; b holds it now

    def as_holder(holder: str, epoch: int) -> FlushWriter:
        return FlushWriter(0, lambda conn: leases.check(conn, "aggregate/0", holder, epoch))

    flush = make_flush(seq=7, workers=[{"puid": 1, "worker_id": 5, "accept_count": 3}],
                       subaccounts=[{"puid": 1}])  # fmt: skip
    with pytest.raises(leases.LeaseLost):
        store.write_flush(flush, as_holder("a", 1))
    assert store.history_seq(partition_seq_key(0)) == 0
    assert store.worker(1, 5) is None and store.pool_stats() is None
    store.write_flush(flush, as_holder("b", 2))
    assert store.history_seq(partition_seq_key(0)) == 7
    assert store.worker(1, 5)["accept_count"] == 3  # type: ignore[index]
    assert store.history_seq() == 0  # a single node's sequence is another one
