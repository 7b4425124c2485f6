"""What every store backend offers, and the account rules shared by all of them.

The API, the engine's flusher and the CLI depend on :class:`Store`, never on a backend, so the
SQLite default and a PostgreSQL scale-out backend are interchangeable.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any, Protocol

from poolstats.engine.snapshot import Flush, Level

USER_NAME_MAX = 64
_USER_NAME_RE = re.compile(r"[A-Za-z0-9_-]+")
_ACCESS_KEY_BYTES = 24  # 32 URL-safe characters, 192 bits


class UserExists(ValueError):
    """The account or sub-account name is already taken."""


@dataclass(frozen=True)
class NewUser:
    """What ``create_user`` hands back; ``access_key`` is shown once and never stored."""

    puid: int
    user_name: str
    access_key: str

    def __repr__(self) -> str:  # keep the key out of logs and tracebacks
        return f"NewUser(puid={self.puid}, user_name={self.user_name!r}, access_key='***')"


def validate_user_name(name: str) -> str:
    """Return ``name`` if it is 1–64 characters of ``[A-Za-z0-9_-]``, else a ``ValueError`` why.

    Names are matched exactly (case-sensitive), as stratum logins are.
    """
    if not name:
        raise ValueError("user name is empty; use 1-64 characters of A-Z a-z 0-9 _ -")
    if len(name) > USER_NAME_MAX:
        raise ValueError(f"user name is {len(name)} characters long; the limit is {USER_NAME_MAX}")
    if not _USER_NAME_RE.fullmatch(name):
        bad = "".join(sorted({c for c in name if not _USER_NAME_RE.fullmatch(c)}))
        raise ValueError(f"user name contains {bad!r}; only A-Z a-z 0-9 _ - are allowed")
    return name


def new_access_key() -> str:
    """A fresh random access key, to be shown to the user once."""
    return secrets.token_urlsafe(_ACCESS_KEY_BYTES)


def hash_access_key(access_key: str) -> str:
    """SHA-256 hex of the key: what the database keeps (a leak of it does not leak keys)."""
    return hashlib.sha256(access_key.encode()).hexdigest()


def key_hash_matches(stored_hash: str, access_key: str) -> bool:
    """Constant-time comparison, so response timing says nothing about the stored hash."""
    return hmac.compare_digest(stored_hash, hash_access_key(access_key))


class Store(Protocol):
    """Persistence of accounts, realtime snapshots and history.

    Times are unix seconds; stats values are sums of share difficulty (see ``engine.snapshot``).
    Every method is safe to call from several threads.
    """

    def close(self) -> None:
        """Release connections; the store is unusable afterwards."""

    # accounts
    def create_user(self, name: str, now: int) -> NewUser:
        """One account, its sub-account of the same name and one read-write access key.

        Raises ``ValueError`` for an invalid name and ``UserExists`` for a taken one.
        """
        ...

    def revoke_key(self, access_key: str, now: int) -> bool:
        """Revoke a key; ``False`` if it was unknown or already revoked."""
        ...

    def subaccounts(self) -> dict[str, int]:
        """Every sub-account name -> puid (ingest maps stratum logins with it)."""
        ...

    def puid_of(self, name: str) -> int | None:
        """The puid of a sub-account name, or ``None``: ingest asks for names it has not seen."""
        ...

    def subaccount_exists(self, puid: int) -> bool:
        """Whether the puid is a sub-account: ingest checks puids it has not seen."""
        ...

    def subaccount_by_key(self, access_key: str) -> list[int]:
        """The puids an access key opens; ``[]`` for an unknown or revoked key."""
        ...

    # stats
    def write_flush(self, flush: Flush) -> None:
        """Apply one engine flush atomically (snapshots, history increments, ``history_seq``)."""

    def history_seq(self) -> int:
        """Journal sequence of the newest batch whose history is stored; 0 if none."""
        ...

    def prune(self, now: int, retention_s: dict[tuple[Level, int], int | None]) -> int:
        """Delete history buckets older than their retention (``None`` keeps them); rows gone."""
        ...

    def worker(self, puid: int, worker_id: int) -> dict[str, Any] | None:
        """One worker's snapshot row."""
        ...

    def workers(self, puid: int) -> list[dict[str, Any]]:
        """Every worker row of a sub-account, by worker_id."""
        ...

    def subaccount_stats(self, puid: int) -> dict[str, Any] | None:
        """A sub-account's snapshot row."""
        ...

    def pool_stats(self) -> dict[str, Any] | None:
        """The pool's snapshot row."""
        ...

    def history(
        self,
        level: Level,
        period_s: int,
        puid: int = 0,
        worker_id: int = 0,
        start_from: int = 0,
        start_to: int = 2**62,
    ) -> list[dict[str, Any]]:
        """History buckets with ``start_from <= start < start_to``, ordered by start.

        ``worker_id=0`` at the worker level means every worker of ``puid``.
        """
        ...
