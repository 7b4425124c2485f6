"""What an API process's ``/healthz`` says about the cluster behind the store: each partition's
last flush and who holds its lease.

An API process reads the store and nothing else, so this is all it can know: partition K is
*stale* when its ``pool_stats`` row (written by every flush of K's active aggregator) is older
than ``stale_after_s`` or missing. A stale partition makes the answer ``degraded`` but keeps
HTTP 200: the figures are old, not wrong, and every replica sees the same store, so taking one
out of rotation would help nothing. The lease says why (no holder, expired: the aggregator
is down and no standby took over; held: it runs but cannot write).
"""

from __future__ import annotations

from dataclasses import dataclass

from poolstats.domain.health import stale_after_s


@dataclass(frozen=True)
class LeaseFact:
    holder: str
    epoch: int
    expires_at: float


@dataclass(frozen=True)
class PartitionReport:
    partition: int
    last_flush: int | None  # unix seconds of its last flush, None before the first
    flush_age_s: float | None
    stale: bool
    lease_holder: str | None
    lease_expired: bool | None  # None: no lease was ever taken

    def as_json(self) -> dict[str, object]:
        return {
            "partition": self.partition,
            "last_flush": self.last_flush,
            "flush_age_s": None if self.flush_age_s is None else round(self.flush_age_s, 3),
            "stale": self.stale,
            "lease": None
            if self.lease_holder is None
            else {"holder": self.lease_holder, "expired": self.lease_expired},
        }


def report(
    partition: int,
    updated_at: int | None,
    lease: LeaseFact | None,
    now: float,
    flush_interval_s: float,
) -> PartitionReport:
    age = None if updated_at is None else max(0.0, now - updated_at)
    stale = age is None or age > stale_after_s(flush_interval_s)
    return PartitionReport(
        partition,
        updated_at,
        age,
        stale,
        None if lease is None else lease.holder,
        None if lease is None else lease.expires_at <= now,
    )


def reasons(reports: list[PartitionReport], flush_interval_s: float) -> list[str]:
    """One line per stale partition, saying what its lease shows."""
    limit = stale_after_s(flush_interval_s)
    out = []
    for r in reports:
        if not r.stale:
            continue
        if r.lease_holder is None:
            who = "no aggregator has ever held its lease"
        elif r.lease_expired:
            who = f"its lease expired (last holder {r.lease_holder}): no aggregator is active"
        else:
            who = f"its lease is held by {r.lease_holder}, whose flushes do not arrive"
        when = (
            "has never flushed"
            if r.flush_age_s is None
            else f"last flushed {r.flush_age_s:.0f} s ago (more than {limit:g} s)"
        )
        out.append(f"partition {r.partition}: {when}; {who}")
    return out
