"""BTC.COM's rules for sub-accounts made through its API (``/v1/account/sub-account/create``).

The operator's ``poolstats subaccount create`` takes any name ``validate_user_name`` does;
the API, which any key holder may call, keeps to BTC.COM's documented bounds as well: 3 to 20
characters, and a bound on how many sub-accounts one account may make.
"""

from __future__ import annotations

from poolstats.domain.accounts import validate_user_name

API_NAME_MIN, API_NAME_MAX = 3, 20
MAX_SUBACCOUNTS_PER_ACCOUNT = 2000  # BTC.COM's documented limit per account
COIN_TYPES = ("btc",)  # the one coin poolstats mines


def validate_api_subaccount_name(name: str) -> str:
    """``name`` if it has 3-20 characters and is a valid user name; else ``ValueError``
    starting with ``worker_name`` (BTC.COM's name of the field)."""
    if not API_NAME_MIN <= len(name) <= API_NAME_MAX:
        raise ValueError(
            f"worker_name: from {API_NAME_MIN} to {API_NAME_MAX} characters, got {len(name)}"
        )
    try:
        return validate_user_name(name)
    except ValueError as exc:
        raise ValueError(f"worker_name: {exc}") from None
