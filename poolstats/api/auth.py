"""Who is calling: an access key opens its account's sub-accounts, ``puid`` picks one.

Both dialects use this; each turns :class:`Denied` into its own error shape. Keys are looked
up by hash and compared in constant time by the store, and never appear in logs or errors.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from poolstats.api.params import parse_int
from poolstats.clock import Clock
from poolstats.store.base import KeyGrant, Store, hash_access_key

MAX_KEY_CHARS = 256  # real keys are 32; longer ones are refused before any hashing
_MAX_CACHED = 10_000


class Denied(Exception):
    """No permission: missing, unknown or revoked key, a puid the key does not own, or a
    read-only key asking to write. The message says which, without echoing the key."""


@dataclass(frozen=True)
class Caller:
    puid: int
    read_only: bool


class Grants:
    """What each key opens, remembered for ``ttl_s`` seconds: every API call needs it, and
    looking it up costs more than many answers. Keys live in another process's hands
    (``poolstats key create``, ``subaccount create``), so entries expire rather than being
    told: a revoked key or a new sub-account takes effect within ``ttl_s``. Only grants are
    remembered (by the key's hash, never the key): a new key works at once, and unknown
    keys cannot fill the memory."""

    def __init__(self, store: Store, clock: Clock, ttl_s: float) -> None:
        self._store, self._clock, self._ttl_s = store, clock, ttl_s
        self._entries: dict[str, tuple[float, KeyGrant]] = {}
        self._lock = threading.Lock()

    def get(self, access_key: str) -> KeyGrant | None:
        digest = hash_access_key(access_key)
        now = self._clock.now()
        entry = self._entries.get(digest)
        if entry is not None and entry[0] > now:
            return entry[1]
        grant = self._store.key_grant(access_key)
        if grant is not None and self._ttl_s > 0:
            with self._lock:
                if len(self._entries) >= _MAX_CACHED:
                    self._entries.clear()
                self._entries[digest] = (now + self._ttl_s, grant)
        return grant


def authorize(grants: Grants, access_key: str | None, puid: str | None, write: bool) -> Caller:
    """The sub-account this call acts on; ``puid`` absent means the account's first one."""
    if not access_key:
        raise Denied("access_key: missing")
    if len(access_key) > MAX_KEY_CHARS:
        raise Denied("access_key: unknown or revoked")
    wanted: int | None = None
    if puid is not None and puid != "":
        wanted = parse_int("puid", puid)
    grant = grants.get(access_key)
    if grant is None or not grant.puids:
        raise Denied("access_key: unknown or revoked")
    if wanted is None:
        wanted = grant.puids[0]
    elif wanted not in grant.puids:
        raise Denied("puid: not a sub-account of this access key")
    if write and grant.read_only:
        raise Denied("access_key: read-only keys cannot change anything")
    return Caller(puid=wanted, read_only=grant.read_only)
