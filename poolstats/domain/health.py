"""What ``/healthz`` says: ok, or degraded with the reasons, and which HTTP status goes with it.

Two kinds of trouble, answered differently:

- **Ingest cannot take shares** (the journal refuses appends): every POST /ingest/shares
  gets 503, so /healthz answers 503 too and a load balancer sends producers elsewhere.
- **The store falls behind** (flushes failing, or none for a while): shares are still
  journaled and acknowledged, nothing is lost, but the API's figures grow stale. /healthz
  says ``degraded`` with the reason and keeps 200: taking the node out of rotation would
  stop ingest that works, which no load balancer should do for stale read figures.
"""

from __future__ import annotations

from dataclasses import dataclass

OK = 200
UNAVAILABLE = 503
STALE_FLUSHES = 3  # flush intervals without a stored flush before the store is "behind"
STALE_MIN_S = 10.0  # ... and never fewer seconds than this (a big flush may take a few)


@dataclass(frozen=True)
class Facts:
    journal_problem: str | None  # why the journal refuses appends, None when it takes them
    unwritten_flushes: int  # flushes that failed to reach the store and wait to be retried
    flush_error: str | None  # the last failed flush's error
    flush_age_s: float  # seconds since the last flush reached the store (or since start)
    flush_interval_s: float


@dataclass(frozen=True)
class Health:
    status: str  # "ok" or "degraded"
    http_status: int
    ingest: str  # "ok" or "refusing"
    reasons: tuple[str, ...]


def stale_after_s(flush_interval_s: float) -> float:
    return max(STALE_FLUSHES * flush_interval_s, STALE_MIN_S)


def append_failure_report_s(flush_interval_s: float) -> float:
    """How long a failed journal write (not a poisoned journal) keeps /healthz at 503.

    Ingest then answers 503 itself for as long as writes fail, but a load balancer that took
    the node out of rotation sends no append that could succeed and clear the failure: so it
    is reported only while recent, and the node comes back to be tried again. The window is
    the one a flush outage takes to be reported (``stale_after_s``): the node's one measure
    of "recent", long enough for a load balancer to see several health checks fail.
    """
    return stale_after_s(flush_interval_s)


def judge(facts: Facts) -> Health:
    reasons = []
    if facts.journal_problem is not None:
        reasons.append(f"journal: {facts.journal_problem}; ingest answers 503")
    if facts.unwritten_flushes:
        reasons.append(
            f"store: {facts.unwritten_flushes} flush(es) failed and wait to be retried "
            f"(last error: {facts.flush_error})"
        )
    limit = stale_after_s(facts.flush_interval_s)
    if facts.flush_age_s > limit:
        reasons.append(
            f"store: no flush has reached it for {facts.flush_age_s:.0f} s "
            f"(more than {limit:g} s); API figures are stale"
        )
    refusing = facts.journal_problem is not None
    return Health(
        status="degraded" if reasons else "ok",
        http_status=UNAVAILABLE if refusing else OK,
        ingest="refusing" if refusing else "ok",
        reasons=tuple(reasons),
    )
