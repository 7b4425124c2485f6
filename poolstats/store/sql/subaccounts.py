"""The sub-accounts port in SQL shared by both backends: by account id, as the API asks."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from poolstats.domain.accounts import validate_profile_fields, validate_user_name
from poolstats.domain.subaccounts import MAX_SUBACCOUNTS_PER_ACCOUNT
from poolstats.store import schema
from poolstats.store.ports.accounts import UnknownAccount, UserExists
from poolstats.store.ports.subaccounts import TooManySubaccounts
from poolstats.store.sql.accounts import SqlAccounts
from poolstats.store.sql.unit_of_work import SqlUnitOfWork

log = logging.getLogger(__name__)
_sub, _acc = schema.subaccounts, schema.accounts


class SqlSubaccounts(SqlUnitOfWork):
    """``SubaccountsPort`` over the backend's transactions."""

    def account_subaccounts(self, account_id: int) -> list[dict[str, Any]]:
        """By puid; ``updated_at`` 0 for a profile never changed."""
        return self._all(
            sa.select(_sub.c.puid, _sub.c.name, _sub.c.region, _sub.c.created_at, _sub.c.updated_at)
            .where(_sub.c.account_id == account_id)
            .order_by(_sub.c.puid)
        )

    def add_subaccount(
        self, account_id: int, name: str, profile: Mapping[str, Any], now: int
    ) -> int:
        """Name, profile, the free-name check and the limit in one write transaction: a
        refused field leaves no sub-account behind, and concurrent creations cannot pass the
        limit together."""
        validate_user_name(name)
        values = validate_profile_fields(profile)
        try:
            with self.write() as conn:
                found = conn.execute(sa.select(_acc.c.id).where(_acc.c.id == account_id))
                if found.scalar() is None:
                    raise UnknownAccount(f"no account has id {account_id}")
                held = conn.execute(
                    sa.select(sa.func.count())
                    .select_from(_sub)
                    .where(_sub.c.account_id == account_id)
                ).scalar_one()
                if held >= MAX_SUBACCOUNTS_PER_ACCOUNT:
                    raise TooManySubaccounts(
                        f"worker_name: an account may have {MAX_SUBACCOUNTS_PER_ACCOUNT} "
                        "sub-accounts; it has them all"
                    )
                SqlAccounts._check_name_free(conn, name)
                puid = SqlAccounts._insert_subaccount(conn, account_id, name, now, **values)
        except IntegrityError as exc:  # only if another writer bypassed the check above
            raise UserExists(f"user name {name!r} is already taken") from exc
        log.info("created sub-account %s (puid %d) of account %d", name, puid, account_id)
        return int(puid)
