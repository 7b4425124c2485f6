"""What every store backend offers, and the account rules shared by all of them.

The API, the engine's flusher and the CLI depend on :class:`Store`, never on a backend, so the
SQLite default and a PostgreSQL scale-out backend are interchangeable.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any, Protocol, runtime_checkable

import sqlalchemy as sa

from poolstats.domain.earnings import COIN, PaymentMode, parse_fee_rate
from poolstats.domain.status import ACTIVE_S, INACTIVE_S, WorkerStatus
from poolstats.engine.snapshot import Flush, Level

USER_NAME_MAX = 64
_USER_NAME_RE = re.compile(r"[A-Za-z0-9_-]+")
_ACCESS_KEY_BYTES = 24  # 32 URL-safe characters, 192 bits


class UserExists(ValueError):
    """The account or sub-account name is already taken."""


class UnknownAccount(LookupError):
    """No account has this name."""


class GroupExists(ValueError):
    """The worker group name is already taken within the sub-account."""


# Columns of a sub-account's profile (BTC.COM /v1/account/info), all text, '' when unset.
PROFILE_FIELDS: tuple[str, ...] = (
    "address",
    "nmc_address",
    "rebates_address",
    "region",
    "mail",
    "phone_country",
    "phone_number",
)

# A sub-account's payout settings, set and read with the profile (migration 0004):
# payment_mode (a PaymentMode), fee_rate (a decimal string; None: the pool's default fee)
# and min_payout_sat (integer satoshis).
PAYOUT_FIELDS: tuple[str, ...] = ("payment_mode", "fee_rate", "min_payout_sat")
MIN_PAYOUT_DEFAULT_SAT = 500_000  # 0.005 BTC
MAX_MONEY_SAT = 21_000_000 * COIN


def fee_rate_text(rate: Fraction) -> str:
    """A fee rate as the shortest exact decimal ("0.02"): ``parse_fee_rate`` allows at most
    six places, so the denominator divides 10**6 and the division below is exact."""
    return format((Decimal(rate.numerator) / Decimal(rate.denominator)).normalize(), "f")


def validate_profile_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The profile and payout fields as they are stored, or ``ValueError`` naming the field.

    The one place their rules live, so that the CLI, the API and any backend agree: the
    payout ``address`` must be a valid mainnet address (normalised), ``payment_mode`` one of
    ``PaymentMode``, ``fee_rate`` a fee ``parse_fee_rate`` accepts (stored as its shortest
    decimal text; ``None`` falls back to the pool's fee), ``min_payout_sat`` whole satoshis
    from 0 to all the bitcoin there will ever be. Other profile fields are free text.
    """
    from poolstats.domain.payout_address import validate_address  # embit: loaded only when needed

    out: dict[str, Any] = {}
    for name, value in fields.items():
        if name == "fee_rate":
            out[name] = None if value is None else fee_rate_text(parse_fee_rate(_text(name, value)))
        elif name == "payment_mode":
            mode = _text(name, value).strip().upper()
            if mode not in PaymentMode.__members__:
                raise ValueError(f"payment_mode: one of {', '.join(PaymentMode)}, got {value!r}")
            out[name] = mode
        elif name == "min_payout_sat":
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"min_payout_sat: whole satoshis, got {value!r}")
            if not 0 <= value <= MAX_MONEY_SAT:
                raise ValueError(f"min_payout_sat: from 0 to {MAX_MONEY_SAT}, got {value}")
            out[name] = value
        elif name == "address":
            text = _text(name, value)
            out[name] = "" if text == "" else validate_address(text)  # '' unsets it
        elif name in PROFILE_FIELDS:
            out[name] = _text(name, value)
        else:
            known = (*PROFILE_FIELDS, *PAYOUT_FIELDS)
            raise ValueError(f"{name!r} is not a profile field; use one of {known}")
    return out


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"profile field {name!r} must be text")
    return value


# What ``worker_page`` can order by: a whitelist, so a request never chooses SQL text.
WORKER_ORDER_KEYS: tuple[str, ...] = (
    "worker_id",
    "worker_name",
    "accept_1m",
    "accept_5m",
    "accept_15m",
    "accept_1d",
    "accept_count",
    "reject_fraction_15m",
    "last_share_time",
)


@dataclass(frozen=True)
class NewUser:
    """What ``create_user`` hands back; ``access_key`` is shown once and never stored."""

    puid: int
    user_name: str
    access_key: str

    def __repr__(self) -> str:  # keep the key out of logs and tracebacks
        return f"NewUser(puid={self.puid}, user_name={self.user_name!r}, access_key='***')"


@dataclass(frozen=True)
class KeyGrant:
    """What a valid access key opens: its account's sub-accounts (no secret is held here)."""

    account_id: int
    puids: tuple[int, ...]  # ordered by puid; the first is the default sub-account
    read_only: bool


@dataclass(frozen=True)
class WorkerQuery:
    """One page of a sub-account's worker list: filters, order and window.

    Deleted workers (group 0) are never listed or counted, whatever ``group_id`` says.
    ``group_id``: ``None`` every group, ``-1`` DEFAULT, else a gid. ``name_contains`` is a
    case-insensitive substring matched literally (``%`` and ``_`` are not wildcards). Ties of
    ``order_by`` are broken by worker_id in the same direction, so pages never overlap.
    """

    now: int
    status: WorkerStatus | None = None
    group_id: int | None = None
    name_contains: str = ""
    order_by: str = "worker_id"
    ascending: bool = False
    offset: int = 0
    limit: int = 10
    active_s: int = ACTIVE_S
    inactive_s: int = INACTIVE_S

    def __post_init__(self) -> None:
        if self.order_by not in WORKER_ORDER_KEYS:
            raise ValueError(
                f"cannot order workers by {self.order_by!r}; use one of {WORKER_ORDER_KEYS}"
            )
        if self.offset < 0 or self.limit < 0:
            raise ValueError("offset and limit must not be negative")


@dataclass(frozen=True)
class WorkerPage:
    """What ``worker_page`` answers: a page of rows and how many rows the filters match."""

    total_count: int  # rows matching the filters, before offset and limit
    rows: list[dict[str, Any]]  # workers table rows (every column), in the query's order


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


NETWORK_SOURCES: tuple[str, ...] = ("cli", "rpc")  # who recorded a network_history entry
_DIFFICULTY_EXP = 40  # bounds the decimal exponent, so no input expands into a huge string


def normalise_difficulty(difficulty: str) -> str:
    """The exact decimal text of a difficulty > 0, without exponent or trailing zeros.

    Kept as text, never a float: settlement divides by it exactly (``Fraction``), and one
    spelling per value lets ``record_network`` see that "1.50" and "1.5" are the same.
    """
    if not isinstance(difficulty, str):
        raise ValueError(f"difficulty must be a decimal string, not {type(difficulty).__name__}")
    try:
        value = Decimal(difficulty.strip())
    except InvalidOperation as exc:
        raise ValueError(f"difficulty {difficulty!r} is not a decimal number") from exc
    if not value.is_finite() or value <= 0:
        raise ValueError(f"difficulty must be a finite number above 0, not {difficulty!r}")
    if not -_DIFFICULTY_EXP <= value.adjusted() <= _DIFFICULTY_EXP:
        raise ValueError(f"difficulty {difficulty!r} is out of range (1e-40 to 1e40)")
    # Exact: ``format`` never rounds, whereas ``normalize()`` rounds to 28 digits.
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def validate_network(difficulty: str, height: int, fees_per_block_sat: int, source: str) -> str:
    """Check a network entry; the normalised difficulty, else a ``ValueError`` naming the field."""
    normal = normalise_difficulty(difficulty)
    if isinstance(height, bool) or not isinstance(height, int) or height < 0:
        raise ValueError(f"height must be a whole number >= 0, not {height!r}")
    if (
        isinstance(fees_per_block_sat, bool)
        or not isinstance(fees_per_block_sat, int)
        or fees_per_block_sat < 0
    ):
        raise ValueError(
            f"fees_per_block_sat must be a whole number >= 0, not {fees_per_block_sat!r}"
        )
    if source not in NETWORK_SOURCES:
        raise ValueError(f"source must be one of {NETWORK_SOURCES}, not {source!r}")
    return normal


@runtime_checkable
class Transactions(Protocol):
    """A store's own write and read transactions, for the tables beyond ``Store`` (alerts,
    blocks) whose modules write SQL themselves."""

    def write(self) -> AbstractContextManager[sa.Connection]: ...

    def read(self) -> AbstractContextManager[sa.Connection]: ...


def transactions(store: Store, keeps: str) -> Transactions:
    """``store`` as ``Transactions``, or ``TypeError`` saying it does not keep ``keeps``."""
    if not isinstance(store, Transactions):
        raise TypeError(f"{type(store).__name__} does not keep {keeps}")
    return store


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

    def create_subaccount(self, account_name: str, name: str, now: int) -> int:
        """A new sub-account of an existing account; returns its puid.

        The name follows ``create_user``'s rules and must be free among account and
        sub-account names. Raises ``ValueError``, ``UnknownAccount`` or ``UserExists``.
        """
        ...

    def create_key(self, account_name: str, read_only: bool, now: int) -> str:
        """A new access key of the account, returned once and stored hashed.

        Raises ``UnknownAccount``.
        """
        ...

    def key_grant(self, access_key: str) -> KeyGrant | None:
        """What the key opens; ``None`` for an unknown or revoked key."""
        ...

    def subaccount_profile(self, puid: int) -> dict[str, Any] | None:
        """puid, name, account_id, created_at, updated_at, the ``PROFILE_FIELDS`` and the
        ``PAYOUT_FIELDS``."""
        ...

    def update_subaccount_profile(self, puid: int, fields: Mapping[str, Any], now: int) -> bool:
        """Set some ``PROFILE_FIELDS`` or ``PAYOUT_FIELDS``, checked by
        ``validate_profile_fields`` (``ValueError`` names the field); ``False`` if no puid."""
        ...

    # worker groups (-1 DEFAULT and 0 deleted are implicit; real gids start at 1)
    def groups(self, puid: int) -> list[dict[str, Any]]:
        """The sub-account's groups (gid, puid, name, sort_id, created_at, updated_at) by
        (sort_id, gid)."""
        ...

    def group(self, puid: int, gid: int) -> dict[str, Any] | None:
        """One group, or ``None`` if the gid is not one of the sub-account's."""
        ...

    def create_group(self, puid: int, name: str, now: int) -> dict[str, Any]:
        """A new group (its row; sort_id = gid). ``GroupExists`` if the puid has the name."""
        ...

    def rename_group(self, puid: int, gid: int, name: str, now: int) -> bool:
        """``False`` if the gid is not the sub-account's; ``GroupExists`` for a taken name."""
        ...

    def delete_group(self, puid: int, gid: int, now: int) -> bool:
        """Move the group's workers to DEFAULT and delete it, atomically; ``False`` if the gid
        is not the sub-account's."""
        ...

    def move_workers(self, puid: int, worker_ids: Sequence[int], group_id: int, now: int) -> bool:
        """Put workers in a group (-1 DEFAULT, 0 deleted, or a gid of the puid), all or none.

        ``False``, with nothing changed, if a worker or the group is not the sub-account's.
        """
        ...

    # network history (difficulty and block reward over time, for earnings)
    def record_network(
        self, at: int, difficulty: str, height: int, fees_per_block_sat: int, source: str, now: int
    ) -> bool:
        """Record the values in force from ``at`` (replacing an entry at the same ``at``).

        ``difficulty`` is a decimal string, stored normalised (``normalise_difficulty``);
        ``source`` is one of ``NETWORK_SOURCES``. ``False`` if the very same values are
        already recorded at ``at``, ``True`` when written; ``ValueError`` names a bad field.
        """
        ...

    def network_at(self, ts: int) -> dict[str, Any] | None:
        """The entry in force at ``ts`` (the newest with ``at <= ts``), or ``None``."""
        ...

    def network_history(self, start: int, stop: int) -> list[dict[str, Any]]:
        """The entries in force during ``[start, stop)``, by ``at``: the one in force at
        ``start`` and every one with ``start < at < stop``."""
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

    def worker_page(self, puid: int, query: WorkerQuery) -> WorkerPage:
        """One page of the sub-account's workers and how many match (see ``WorkerQuery``)."""
        ...

    def worker_counts(
        self, puid: int, now: int, active_s: int = ACTIVE_S, inactive_s: int = INACTIVE_S
    ) -> dict[WorkerStatus, int]:
        """Workers per status (``domain.status.worker_status``), deleted ones left out."""
        ...

    def group_stats(
        self, puid: int, now: int, active_s: int = ACTIVE_S, inactive_s: int = INACTIVE_S
    ) -> list[dict[str, Any]]:
        """Per group_id with non-deleted workers, by group_id: ``workers_active``,
        ``workers_inactive``, ``workers_dead``, ``workers_total`` and the sum of every window."""
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
