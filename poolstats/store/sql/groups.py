"""The groups port in SQL shared by both backends: worker groups and moving workers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from poolstats.store import schema
from poolstats.store.ports.groups import GroupExists
from poolstats.store.sql.unit_of_work import SqlUnitOfWork
from poolstats.store.sql.worker_lists import _NOT_DELETED_BY_SCAN, _w

_INT64 = range(-(2**63), 2**63)
_IDS_PER_STATEMENT = 10_000  # bound parameters per statement stay far below SQLite's limit


class SqlGroups(SqlUnitOfWork):
    """``GroupsPort`` over the backend's transactions; group changes move worker rows, so
    they open ``write(workers_changed=True)``."""

    def groups(self, puid: int) -> list[dict[str, Any]]:
        """The sub-account's own groups by (sort_id, gid); DEFAULT (-1) is not stored."""
        g = schema.worker_groups
        return self._all(sa.select(g).where(g.c.puid == puid).order_by(g.c.sort_id, g.c.gid))

    def group(self, puid: int, gid: int) -> dict[str, Any] | None:
        """One group of the sub-account; ``None`` for another puid's gid too."""
        g = schema.worker_groups
        return self._one(sa.select(g).where(g.c.gid == gid, g.c.puid == puid))

    @staticmethod
    def _is_group_of(conn: sa.Connection, puid: int, gid: int) -> bool:
        g = schema.worker_groups
        found = conn.execute(sa.select(g.c.gid).where(g.c.gid == gid, g.c.puid == puid)).first()
        return found is not None

    @staticmethod
    def _check_group_name_free(conn: sa.Connection, puid: int, name: str, gid: int = 0) -> None:
        """``GroupExists`` if another group of the puid (not ``gid``; 0 is none) has the name."""
        g = schema.worker_groups
        taken = conn.execute(
            sa.select(g.c.gid).where(g.c.puid == puid, g.c.name == name, g.c.gid != gid)
        ).first()
        if taken is not None:
            raise GroupExists(f"group name {name!r} is already taken")

    def create_group(self, puid: int, name: str, now: int) -> dict[str, Any]:
        """A new group, sorted after the existing ones (sort_id = gid); its row."""
        g = schema.worker_groups
        try:
            with self.write() as conn:
                self._check_group_name_free(conn, puid, name)
                gid = conn.execute(
                    sa.insert(g)
                    .values(puid=puid, name=name, created_at=now, updated_at=now)
                    .returning(g.c.gid)
                ).scalar_one()
                row = conn.execute(
                    sa.update(g).where(g.c.gid == gid).values(sort_id=gid).returning(*g.c)
                ).one()
        except IntegrityError as exc:  # only if another writer bypassed the check above
            raise GroupExists(f"group name {name!r} is already taken") from exc
        return dict(row._mapping)

    def rename_group(self, puid: int, gid: int, name: str, now: int) -> bool:
        """Rename one of the sub-account's groups; ``False`` if the gid is not one."""
        g = schema.worker_groups
        try:
            with self.write() as conn:
                self._check_group_name_free(conn, puid, name, gid)
                result = conn.execute(
                    sa.update(g)
                    .where(g.c.gid == gid, g.c.puid == puid)
                    .values(name=name, updated_at=now)
                )
        except IntegrityError as exc:
            raise GroupExists(f"group name {name!r} is already taken") from exc
        return bool(result.rowcount)

    def delete_group(self, puid: int, gid: int, now: int) -> bool:
        """Its workers back to DEFAULT, then the group row, in one transaction (``now`` is
        unused: nothing keeps the time of a deletion)."""
        g = schema.worker_groups
        with self.write(workers_changed=True) as conn:
            if not self._is_group_of(conn, puid, gid):
                return False
            conn.execute(
                sa.update(_w)
                .where(_w.c.puid == puid, _w.c.group_id == gid)
                .values(group_id=schema.GROUP_DEFAULT)
            )
            conn.execute(sa.delete(g).where(g.c.gid == gid))
        return True

    def move_workers(self, puid: int, worker_ids: Sequence[int], group_id: int, now: int) -> bool:
        """Set the workers' group_id, all or nothing; ``False`` if one of them or the group is
        not the sub-account's (a deleted worker is nobody's until it submits a share again).
        ``now`` is unused: a worker row's times are the engine's."""
        ids = sorted(set(worker_ids))
        if group_id not in _INT64 or any(i not in _INT64 for i in ids):
            return False  # no worker or group has such an id (and SQLite could not bind it)
        chunks = [ids[i : i + _IDS_PER_STATEMENT] for i in range(0, len(ids), _IDS_PER_STATEMENT)]
        with self.write(workers_changed=True) as conn:
            implicit = group_id in (schema.GROUP_DEFAULT, schema.GROUP_DELETED)
            if not implicit and not self._is_group_of(conn, puid, group_id):
                return False
            known = sum(
                conn.execute(
                    sa.select(sa.func.count())
                    .select_from(_w)
                    # deleted workers are gone until they mine again: not the caller's to move
                    .where(_w.c.puid == puid, _w.c.worker_id.in_(chunk), _NOT_DELETED_BY_SCAN)
                ).scalar_one()
                for chunk in chunks
            )
            if known != len(ids):
                return False
            for chunk in chunks:
                conn.execute(
                    sa.update(_w)
                    .where(_w.c.puid == puid, _w.c.worker_id.in_(chunk))
                    .values(group_id=group_id)
                )
        return True
