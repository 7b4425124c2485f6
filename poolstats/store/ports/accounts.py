"""The accounts port: accounts, their sub-accounts, access keys and sub-account profiles.

The API's key check, ingest's login mapping and the CLI's user commands need only this;
the rules it applies (names, keys, profile fields) are ``domain.accounts`` and
``domain.access_keys``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol


class UserExists(ValueError):
    """The account or sub-account name is already taken."""


class UnknownAccount(LookupError):
    """No account has this name."""


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


class AccountsPort(Protocol):
    """Accounts and sub-accounts (one namespace of names), keys and profiles."""

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
