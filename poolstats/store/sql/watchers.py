"""The watchers port in SQL shared by both backends: links kept as hashes of their tokens."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import sqlalchemy as sa

from poolstats.domain.access_keys import hash_access_key, key_hash_matches
from poolstats.domain.watchers import (
    MAX_WATCHERS_PER_SUBACCOUNT,
    new_watcher_token,
    token_prefix,
    validate_note,
)
from poolstats.store import schema
from poolstats.store.ports.watchers import NewWatcher, TooManyWatchers, Watcher
from poolstats.store.sql.unit_of_work import SqlUnitOfWork

log = logging.getLogger(__name__)
_w, _sub = schema.watchers, schema.subaccounts


class SqlWatchers(SqlUnitOfWork):
    """``WatchersPort`` over the backend's transactions."""

    def create_watcher(self, puid: int, note: str, now: int) -> NewWatcher:
        """Checked and counted in the one write transaction, so concurrent creations cannot
        pass the limit together; only the token's hash and prefix are stored."""
        text = validate_note(note)
        token = new_watcher_token()
        with self.write() as conn:
            account_id = conn.execute(
                sa.select(_sub.c.account_id).where(_sub.c.puid == puid)
            ).scalar()
            if account_id is None:
                raise LookupError(f"puid: no sub-account {puid}")
            held = conn.execute(
                sa.select(sa.func.count()).select_from(_w).where(_w.c.puid == puid)
            ).scalar_one()
            if held >= MAX_WATCHERS_PER_SUBACCOUNT:
                raise TooManyWatchers(
                    f"puid: {MAX_WATCHERS_PER_SUBACCOUNT} watcher links already; delete one first"
                )
            watcher_id = conn.execute(
                sa.insert(_w)
                .values(
                    puid=puid,
                    token_hash=hash_access_key(token),
                    token_prefix=token_prefix(token),
                    note=text,
                    created_at=now,
                    updated_at=now,
                )
                .returning(_w.c.id)
            ).scalar_one()
        log.info("created watcher link %d of puid %d", watcher_id, puid)
        watcher = Watcher(
            int(watcher_id), int(account_id), puid, token_prefix(token), text, now, now
        )
        return NewWatcher(watcher=watcher, token=token)

    def watchers(self, puid: int) -> list[Watcher]:
        """Oldest first (by id)."""
        rows = self._all(
            sa.select(
                _w.c.id,
                _sub.c.account_id,
                _w.c.puid,
                _w.c.token_prefix,
                _w.c.note,
                _w.c.created_at,
                _w.c.updated_at,
            )
            .join(_sub, _sub.c.puid == _w.c.puid)
            .where(_w.c.puid == puid)
            .order_by(_w.c.id)
        )
        return [
            Watcher(
                id=int(r["id"]),
                account_id=int(r["account_id"]),
                puid=int(r["puid"]),
                prefix=r["token_prefix"],
                note=r["note"],
                created_at=int(r["created_at"]),
                updated_at=int(r["updated_at"]),
            )
            for r in rows
        ]

    def delete_watcher(self, puid: int, watcher_id: int) -> bool:
        """Only a link of ``puid``: another sub-account's id deletes nothing."""
        with self.write() as conn:
            result = conn.execute(
                sa.delete(_w).where(_w.c.id == watcher_id).where(_w.c.puid == puid)
            )
        if result.rowcount:
            log.info("deleted watcher link %d of puid %d", watcher_id, puid)
        return bool(result.rowcount)

    def watcher_puid(self, token: str) -> int | None:
        """Looked up by hash, then compared in constant time, as access keys are."""
        with self.read() as conn:
            row = conn.execute(
                sa.select(_w.c.token_hash, _w.c.puid).where(
                    _w.c.token_hash == hash_access_key(token)
                )
            ).first()
        if row is None or not key_hash_matches(row.token_hash, token):
            return None
        return int(row.puid)

    def watcher_counts(self, puids: Iterable[int]) -> dict[int, int]:
        """One grouped count; puids without links count 0."""
        wanted = sorted(set(puids))
        counts = dict.fromkeys(wanted, 0)
        if not wanted:
            return counts
        with self.read() as conn:
            rows = conn.execute(
                sa.select(_w.c.puid, sa.func.count())
                .where(_w.c.puid.in_(wanted))
                .group_by(_w.c.puid)
            )
            counts.update({int(puid): int(n) for puid, n in rows})
        return counts
