"""Who is calling: an access key opens its account's sub-accounts, ``puid`` picks one.

Both dialects use this; each turns :class:`Denied` into its own error shape. Keys are looked
up by hash and compared in constant time by the store, and never appear in logs or errors.
"""

from __future__ import annotations

from dataclasses import dataclass

from poolstats.api.params import ParamError
from poolstats.store.base import Store

MAX_KEY_CHARS = 256  # real keys are 32; longer ones are refused before any hashing


class Denied(Exception):
    """No permission: missing, unknown or revoked key, a puid the key does not own, or a
    read-only key asking to write. The message says which, without echoing the key."""


@dataclass(frozen=True)
class Caller:
    puid: int
    read_only: bool


def authorize(store: Store, access_key: str | None, puid: str | None, write: bool) -> Caller:
    """The sub-account this call acts on; ``puid`` absent means the account's first one."""
    if not access_key:
        raise Denied("access_key: missing")
    if len(access_key) > MAX_KEY_CHARS:
        raise Denied("access_key: unknown or revoked")
    wanted: int | None = None
    if puid is not None and puid != "":
        try:
            wanted = int(puid)
        except ValueError:
            raise ParamError("puid", "must be an integer") from None
    grant = store.key_grant(access_key)
    if grant is None or not grant.puids:
        raise Denied("access_key: unknown or revoked")
    if wanted is None:
        wanted = grant.puids[0]
    elif wanted not in grant.puids:
        raise Denied("puid: not a sub-account of this access key")
    if write and grant.read_only:
        raise Denied("access_key: read-only keys cannot change anything")
    return Caller(puid=wanted, read_only=grant.read_only)
