"""Who is calling: an access key opens its account's sub-accounts, ``puid`` picks one; or a
watcher token (BTC.COM's observer link) opens one sub-account for reading.

Both dialects use this; each turns :class:`Denied` into its own error shape, and
:class:`Throttled` into its 429. Keys and tokens are looked up by hash and compared in
constant time by the store, and never appear in logs or errors.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from starlette.requests import HTTPConnection

from poolstats.api.params import parse_int
from poolstats.clock import Clock
from poolstats.config import Settings
from poolstats.domain.access_keys import hash_access_key
from poolstats.domain.addresses import client_key
from poolstats.domain.throttle import FailureThrottle
from poolstats.metrics import Metrics
from poolstats.store.ports.accounts import AccountsPort, KeyGrant
from poolstats.store.ports.watchers import WatchersPort

MAX_KEY_CHARS = 256  # real keys are 32; longer ones are refused before any hashing
_MAX_CACHED = 10_000


class Denied(Exception):
    """No permission: missing, unknown or revoked key, a puid the key does not own, or a
    read-only key asking to write. The message says which, without echoing the key."""


class WatcherDenied(Denied):
    """A valid watcher token asked for more than it opens: another ``puid``, a write, or an
    endpoint only the account's own keys may call (BTC.COM's err_no 20002)."""


class Throttled(Exception):
    """The client sent too many wrong keys lately; ``retry_after_s`` (whole seconds, for the
    ``Retry-After`` header) until it may try again."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many wrong keys from this address; retry after {retry_after_s} s")
        self.retry_after_s = retry_after_s


@dataclass
class Attempt:
    wrong: bool = False  # the key tried was wrong: a failure of its client


class Guard:
    """Wrong keys of one ``kind`` (``access_key``, ``ingest_token``) per client address,
    throttled by :class:`FailureThrottle` and counted in /metrics. Shared by the event loop
    and the API threads, hence the lock; each call holds it for a dict look-up.

    An attempt is pending from :meth:`attempt`'s check until it is settled on leaving the
    block: the look-up in between takes time, and many guesses at once must not all be
    admitted before the first failure is recorded."""

    def __init__(self, kind: str, settings: Settings, clock: Clock, metrics: Metrics) -> None:
        self.kind, self._clock, self._metrics = kind, clock, metrics
        self._throttle = FailureThrottle(
            settings.auth_failure_limit, settings.auth_failure_window_s
        )
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def attempt(self, host: str) -> Iterator[Attempt]:
        """One try of a key by ``host``: :class:`Throttled` at once (before any look-up) while
        it may not try; otherwise the block looks the key up, sets ``wrong`` when it is, and
        the attempt is settled as a failure or not on leaving, whatever happens inside."""
        self.check(host)
        outcome = Attempt()
        try:
            yield outcome
        finally:
            (self.failed if outcome.wrong else self.passed)(host)

    def check(self, host: str) -> None:
        """Raise :class:`Throttled` while ``host`` may not try a key; before any look-up.
        Otherwise the attempt is pending until :meth:`failed` or :meth:`passed`."""
        with self._lock:
            wait = self._throttle.attempt(client_key(host), self._clock.now())
        if wait > 0:
            self._metrics.auth_throttled.labels(self.kind).inc()
            raise Throttled(max(1, math.ceil(wait)))

    def failed(self, host: str) -> None:
        """The attempt ``check`` admitted had a wrong key."""
        self._metrics.auth_failures.labels(self.kind).inc()
        with self._lock:
            self._throttle.failed(client_key(host), self._clock.now())

    def passed(self, host: str) -> None:
        """The attempt ``check`` admitted had no wrong key (or ended before its look-up)."""
        with self._lock:
            self._throttle.passed(client_key(host))


def client_host(request: HTTPConnection) -> str:
    """The client's address: the peer's, or the one a trusted proxy gives
    (``forwarded_allow_ips``); empty when unknown."""
    return request.client.host if request.client else ""


@dataclass(frozen=True)
class Caller:
    puid: int
    read_only: bool
    account_id: int | None = None  # the key's account; None for a watcher token
    watcher: bool = False  # a watcher token: read-only, this one puid
    puids: tuple[int, ...] = ()  # every sub-account the caller may read


class GrantSource(AccountsPort, WatchersPort, Protocol):
    """What :class:`Grants` looks keys and watcher tokens up in (the store)."""


class Grants:
    """What each key opens, remembered for ``ttl_s`` seconds: every API call needs it, and
    looking it up costs more than many answers. Keys live in another process's hands
    (``poolstats key create``, ``subaccount create``), so entries expire rather than being
    told: a revoked key or a new sub-account takes effect within ``ttl_s``. Only grants are
    remembered (by the key's hash, never the key): a new key works at once, and unknown
    keys cannot fill the memory."""

    def __init__(self, store: GrantSource, clock: Clock, ttl_s: float, guard: Guard) -> None:
        self._store, self._clock, self._ttl_s = store, clock, ttl_s
        self.guard = guard  # wrong keys per client
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

    def forget(self, access_key: str) -> None:
        """Drop what the key opened: after it made a sub-account, its next call sees it."""
        with self._lock:
            self._entries.pop(hash_access_key(access_key), None)

    def watched(self, token: str) -> int | None:
        """The puid a watcher token opens, looked up on every call and never remembered:
        deleting a link stops it at once, on every node reading the store."""
        return self._store.watcher_puid(token)


def authorize(
    grants: Grants,
    access_key: str | None,
    puid: str | None,
    write: bool,
    host: str,
    *,
    watcher_token: str | None = None,
    watchers: bool = True,
) -> Caller:
    """The sub-account this call acts on; ``puid`` absent means the account's first one.

    Without an access key, a ``watcher_token`` is tried (:func:`authorize_watcher`);
    ``watchers`` False: the endpoint is the account's own business, and a valid token gets
    :class:`WatcherDenied`. ``host`` is the client's address: one that sent too many
    unknown keys is refused before its key is looked at (:class:`Throttled`), so a right key
    gets it no further either."""
    if not access_key and watcher_token:
        return authorize_watcher(grants, watcher_token, puid, write, host, watchers)
    if not access_key:
        raise Denied("access_key: missing")
    wanted, grant = None, None
    with grants.guard.attempt(host) as attempt:
        attempt.wrong = len(access_key) > MAX_KEY_CHARS
        if not attempt.wrong:
            if puid is not None and puid != "":
                wanted = parse_int("puid", puid)
            grant = grants.get(access_key)
            attempt.wrong = grant is None or not grant.puids
    if attempt.wrong or grant is None:
        raise Denied("access_key: unknown or revoked")
    if wanted is None:
        wanted = grant.puids[0]
    elif wanted not in grant.puids:
        raise Denied("puid: not a sub-account of this access key")
    if write and grant.read_only:
        raise Denied("access_key: read-only keys cannot change anything")
    return Caller(
        puid=wanted, read_only=grant.read_only, account_id=grant.account_id, puids=grant.puids
    )


def authorize_watcher(
    grants: Grants, token: str, puid: str | None, write: bool, host: str, allowed: bool = True
) -> Caller:
    """The one sub-account a watcher token opens, for reading. An unknown or deleted token
    is a wrong key (throttled, err_no 20001 as BTC.COM's "observer expired"); a valid one
    naming another ``puid``, asking to write, or on an endpoint not ``allowed`` to watchers
    is :class:`WatcherDenied` (20002). ``puid`` absent means the token's own."""
    wanted = None if puid is None or puid == "" else parse_int("puid", puid)
    found = watched_puid(grants, token, host)
    if wanted is not None and wanted != found:
        raise WatcherDenied("puid: not the sub-account this watcher_token opens")
    if write:
        raise WatcherDenied("watcher_token: watchers may only read")
    if not allowed:
        raise WatcherDenied("watcher_token: only the account's access keys may call this")
    return Caller(puid=found, read_only=True, watcher=True, puids=(found,))


def watched_puid(grants: Grants, token: str, host: str) -> int:
    """The puid ``token`` opens, as one try of a key by ``host``: :class:`Throttled` before
    any look-up while it may not try, :class:`Denied` (counted as a failure) if the token is
    unknown or deleted."""
    found = None
    with grants.guard.attempt(host) as attempt:
        attempt.wrong = len(token) > MAX_KEY_CHARS
        if not attempt.wrong:
            found = grants.watched(token)
            attempt.wrong = found is None
    if found is None:
        raise Denied("watcher_token: unknown or deleted")
    return found
