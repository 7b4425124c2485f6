"""The sub-accounts port: an account's sub-accounts as the API lists and creates them.

``AccountsPort`` names accounts (the CLI's ``--account``); the API knows the caller's
account only by the id its key's grant carries, and BTC.COM's ``sub-account/create``
sets the payout address with the name, in one step. The rules are ``domain.accounts``
(names, profile fields) and ``domain.subaccounts`` (BTC.COM's limits).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class TooManySubaccounts(ValueError):
    """The account has ``MAX_SUBACCOUNTS_PER_ACCOUNT`` sub-accounts already."""


class SubaccountsPort(Protocol):
    """Sub-accounts by account id."""

    def account_subaccounts(self, account_id: int) -> list[dict[str, Any]]:
        """The account's sub-accounts by puid: ``puid``, ``name``, ``region``,
        ``created_at``, ``updated_at`` (0: never)."""
        ...

    def add_subaccount(
        self, account_id: int, name: str, profile: Mapping[str, Any], now: int
    ) -> int:
        """A new sub-account of the account with ``profile`` fields set (checked by
        ``validate_profile_fields``); returns its puid.

        The name follows ``validate_user_name`` and must be free among account and
        sub-account names. Raises ``ValueError`` naming the field, ``UserExists``,
        ``TooManySubaccounts`` or ``UnknownAccount``.
        """
        ...
