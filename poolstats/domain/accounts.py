"""What an account's sub-accounts may be called and what their profiles may hold: the one
place these rules live, so that the CLI, the API and every store backend agree."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any

from poolstats.domain.earnings import MAX_MONEY_SAT, PaymentMode, parse_fee_rate

USER_NAME_MAX = 64
_USER_NAME_RE = re.compile(r"[A-Za-z0-9_-]+")


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
