"""Leases in the store: one holder at a time for a named job, fenced by an epoch.

A lease is held until ``expires_at``; its holder renews it well before. A process that stops
renewing (killed, cut off, paused) loses it when it expires, and the next taker gets a higher
``epoch``. Expiry alone cannot stop a paused holder from writing once it wakes up, so every
write that only the holder may make calls :func:`check` in its own transaction: it locks the
lease row and fails unless (holder, epoch) still match, so a take-over and a stale holder's
write are ordered by the database and the stale write is refused.

Times are the callers' clocks (unix seconds): machines of one cluster keep them within a small
fraction of the lease time of each other (NTP), as docs/deploy.md says.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from poolstats.store import schema

_L = schema.leases


class LeaseLost(RuntimeError):
    """The lease is no longer this holder's: whatever the write was, it must not happen."""


@dataclass(frozen=True)
class Lease:
    name: str
    holder: str
    epoch: int
    expires_at: float
    acquired_at: float


def acquire(conn: sa.Connection, name: str, holder: str, now: float, ttl_s: float) -> int | None:
    """Take ``name`` when free, expired or already ours; its epoch, or None when another
    process holds it. A holder taking its own lease again keeps its epoch."""
    if conn.execute(sa.select(_L.c.name).where(_L.c.name == name)).first() is None:
        try:
            with conn.begin_nested():  # two first takers at once: one insert wins
                conn.execute(
                    sa.insert(_L).values(
                        name=name, holder=holder, epoch=1, expires_at=now + ttl_s, acquired_at=now
                    )
                )
            return 1
        except sa.exc.IntegrityError:
            pass
    ours = _L.c.holder == holder
    epoch = conn.execute(
        sa.update(_L)
        .where(_L.c.name == name, sa.or_(ours, _L.c.expires_at <= now))
        .values(
            holder=holder,
            epoch=sa.case((ours, _L.c.epoch), else_=_L.c.epoch + 1),
            expires_at=now + ttl_s,
            acquired_at=sa.case((ours, _L.c.acquired_at), else_=now),
        )
        .returning(_L.c.epoch)
    ).scalar_one_or_none()
    return None if epoch is None else int(epoch)


def renew(
    conn: sa.Connection, name: str, holder: str, epoch: int, now: float, ttl_s: float
) -> bool:
    """Extend our lease to ``now + ttl_s``; False when it has passed to another holder."""
    done = conn.execute(
        sa.update(_L)
        .where(_L.c.name == name, _L.c.holder == holder, _L.c.epoch == epoch)
        .values(expires_at=now + ttl_s)
    )
    return bool(done.rowcount)


def release(conn: sa.Connection, name: str, holder: str, epoch: int) -> None:
    """Give the lease up at once (a clean stop), so a standby need not wait for it to expire."""
    conn.execute(
        sa.update(_L)
        .where(_L.c.name == name, _L.c.holder == holder, _L.c.epoch == epoch)
        .values(expires_at=0.0)
    )


def check(conn: sa.Connection, name: str, holder: str, epoch: int) -> None:
    """Raise :class:`LeaseLost` unless we hold ``name`` at ``epoch``; call it inside the write
    transaction it guards. The row stays locked until that transaction ends (PostgreSQL), so a
    take-over waits for the write or the write sees the take-over; SQLite has one writer."""
    row = conn.execute(
        sa.select(_L.c.epoch)
        .where(_L.c.name == name, _L.c.holder == holder, _L.c.epoch == epoch)
        .with_for_update()
    ).first()
    if row is None:
        raise LeaseLost(f"lease {name!r}: no longer held by {holder} at epoch {epoch}")


def leases(conn: sa.Connection) -> list[Lease]:
    """Every lease as it stands (expired ones included), by name."""
    rows = conn.execute(sa.select(_L).order_by(_L.c.name)).all()
    return [Lease(r.name, r.holder, int(r.epoch), r.expires_at, r.acquired_at) for r in rows]
