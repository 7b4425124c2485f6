"""The accounts port in SQL shared by both backends: accounts, sub-accounts, keys, profiles."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from poolstats.domain.access_keys import hash_access_key, key_hash_matches, new_access_key
from poolstats.domain.accounts import (
    PAYOUT_FIELDS,
    PROFILE_FIELDS,
    validate_profile_fields,
    validate_user_name,
)
from poolstats.store import schema
from poolstats.store.ports.accounts import KeyGrant, NewUser, UnknownAccount, UserExists
from poolstats.store.sql.unit_of_work import SqlUnitOfWork

log = logging.getLogger(__name__)


class SqlAccounts(SqlUnitOfWork):
    """``AccountsPort`` over the backend's transactions."""

    def create_user(self, name: str, now: int) -> NewUser:
        """One account + one sub-account named ``name`` + one read-write key (returned once)."""
        validate_user_name(name)
        access_key = new_access_key()
        acc = schema.accounts
        try:
            with self.write() as conn:
                self._check_name_free(conn, name)
                account_id = conn.execute(
                    sa.insert(acc).values(name=name, created_at=now).returning(acc.c.id)
                ).scalar_one()
                puid = self._insert_subaccount(conn, account_id, name, now)
                self._insert_key(conn, account_id, access_key, False, now)
        except IntegrityError as exc:  # only if another writer bypassed the check above
            raise UserExists(f"user name {name!r} is already taken") from exc
        log.info("created user %s (puid %d)", name, puid)
        return NewUser(puid=puid, user_name=name, access_key=access_key)

    def revoke_key(self, access_key: str, now: int) -> bool:
        """Mark a key revoked; it opens nothing afterwards. ``False`` if unknown or revoked."""
        keys = schema.access_keys
        with self.write() as conn:
            result = conn.execute(
                sa.update(keys)
                .where(keys.c.key_hash == hash_access_key(access_key))
                .where(keys.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
        return bool(result.rowcount)

    def subaccounts(self) -> dict[str, int]:
        """Every sub-account name -> puid."""
        sub = schema.subaccounts
        with self.read() as conn:
            rows = conn.execute(sa.select(sub.c.name, sub.c.puid).order_by(sub.c.puid))
            return {name: puid for name, puid in rows}

    def puid_of(self, name: str) -> int | None:
        """The puid of a sub-account name, or ``None`` (one indexed lookup)."""
        sub = schema.subaccounts
        with self.read() as conn:
            puid = conn.execute(sa.select(sub.c.puid).where(sub.c.name == name)).scalar()
        return None if puid is None else int(puid)

    def subaccount_exists(self, puid: int) -> bool:
        """Whether a sub-account with this puid exists (one primary-key lookup)."""
        sub = schema.subaccounts
        with self.read() as conn:
            found = conn.execute(sa.select(sub.c.puid).where(sub.c.puid == puid)).scalar()
        return found is not None

    def create_subaccount(self, account_name: str, name: str, now: int) -> int:
        """A sub-account under an existing account; the name rules are ``create_user``'s."""
        validate_user_name(name)
        try:
            with self.write() as conn:
                account_id = self._account_id(conn, account_name)
                self._check_name_free(conn, name)
                puid = self._insert_subaccount(conn, account_id, name, now)
        except IntegrityError as exc:  # only if another writer bypassed the check above
            raise UserExists(f"user name {name!r} is already taken") from exc
        log.info("created sub-account %s (puid %d) of account %s", name, puid, account_name)
        return int(puid)

    @staticmethod
    def _insert_key(
        conn: sa.Connection, account_id: int, access_key: str, read_only: bool, now: int
    ) -> None:
        """Only the key's hash is stored (see ``hash_access_key``)."""
        conn.execute(
            sa.insert(schema.access_keys).values(
                account_id=account_id,
                key_hash=hash_access_key(access_key),
                read_only=read_only,
                created_at=now,
            )
        )

    @staticmethod
    def _account_id(conn: sa.Connection, account_name: str) -> int:
        acc = schema.accounts
        account_id = conn.execute(sa.select(acc.c.id).where(acc.c.name == account_name)).scalar()
        if account_id is None:
            raise UnknownAccount(f"no account is named {account_name!r}")
        return int(account_id)

    @staticmethod
    def _insert_subaccount(
        conn: sa.Connection, account_id: int, name: str, now: int, **profile: Any
    ) -> int:
        """The sub-account's row, its name checked free by the caller in the same write."""
        sub = schema.subaccounts
        puid = conn.execute(
            sa.insert(sub)
            .values(account_id=account_id, name=name, created_at=now, **profile)
            .returning(sub.c.puid)
        ).scalar_one()
        return int(puid)

    @staticmethod
    def _check_name_free(conn: sa.Connection, name: str) -> None:
        """Account and sub-account names share one namespace: stratum logins use either."""
        acc, sub = schema.accounts, schema.subaccounts
        taken = conn.execute(
            sa.select(acc.c.id)
            .where(acc.c.name == name)
            .union_all(sa.select(sub.c.puid).where(sub.c.name == name))
        ).first()
        if taken is not None:
            raise UserExists(f"user name {name!r} is already taken")

    def create_key(self, account_name: str, read_only: bool, now: int) -> str:
        """Another access key of the account, stored as its SHA-256 and returned this once."""
        access_key = new_access_key()
        with self.write() as conn:
            account_id = self._account_id(conn, account_name)
            self._insert_key(conn, account_id, access_key, read_only, now)
        log.info(
            "created a %s key of account %s",
            "read-only" if read_only else "read-write",
            account_name,
        )
        return access_key

    def key_grant(self, access_key: str) -> KeyGrant | None:
        """The key's account, its puids in order and whether it may only read; ``None`` for an
        unknown or revoked key. The stored hash is compared in constant time."""
        keys, sub = schema.access_keys, schema.subaccounts
        with self.read() as conn:
            key = conn.execute(
                sa.select(keys.c.key_hash, keys.c.account_id, keys.c.read_only)
                .where(keys.c.key_hash == hash_access_key(access_key))
                .where(keys.c.revoked_at.is_(None))
            ).first()
            if key is None or not key_hash_matches(key.key_hash, access_key):
                return None
            puids = conn.execute(
                sa.select(sub.c.puid).where(sub.c.account_id == key.account_id).order_by(sub.c.puid)
            ).scalars()
            return KeyGrant(
                account_id=int(key.account_id),
                puids=tuple(int(p) for p in puids),
                read_only=bool(key.read_only),
            )

    def subaccount_profile(self, puid: int) -> dict[str, Any] | None:
        """puid, name, account_id, created_at, updated_at, the profile text fields and the
        payout settings."""
        sub = schema.subaccounts
        cols = (
            "puid", "name", "account_id", "created_at", "updated_at",
            *PROFILE_FIELDS, *PAYOUT_FIELDS,
        )  # fmt: skip
        return self._one(sa.select(*(sub.c[c] for c in cols)).where(sub.c.puid == puid))

    def update_subaccount_profile(self, puid: int, fields: Mapping[str, Any], now: int) -> bool:
        """Set the given fields, as ``validate_profile_fields`` checks and normalises them,
        and ``updated_at``; ``False`` if the puid is unknown."""
        values = validate_profile_fields(fields)
        sub = schema.subaccounts
        with self.write() as conn:
            result = conn.execute(
                sa.update(sub).where(sub.c.puid == puid).values(**values, updated_at=now)
            )
        return bool(result.rowcount)
