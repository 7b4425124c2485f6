"""The watchers port: links that open one sub-account for reading (BTC.COM's observers).

The owner makes, lists and deletes them through the API or the CLI; the API's check of a
``watcher_token`` asks :meth:`WatchersPort.watcher_puid` on every call, so a deleted link
stops at once on every node. The rules (token, note, limits) are ``domain.watchers``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol


class TooManyWatchers(ValueError):
    """The sub-account has ``MAX_WATCHERS_PER_SUBACCOUNT`` links already."""


@dataclass(frozen=True)
class Watcher:
    """One link as its owner sees it: never the token, only its clear ``prefix``."""

    id: int
    account_id: int  # BTC.COM's ``uid``: the account owning the sub-account
    puid: int
    prefix: str
    note: str
    created_at: int
    updated_at: int


@dataclass(frozen=True)
class NewWatcher:
    """What ``create_watcher`` hands back; ``token`` is shown once and never stored."""

    watcher: Watcher
    token: str

    def __repr__(self) -> str:  # keep the token out of logs and tracebacks
        return f"NewWatcher(watcher={self.watcher!r}, token='***')"


class WatchersPort(Protocol):
    """Watcher links by sub-account."""

    def create_watcher(self, puid: int, note: str, now: int) -> NewWatcher:
        """A new link opening ``puid``, its token returned this once and stored hashed.

        The note follows ``validate_note``. Raises ``ValueError`` naming ``note``,
        ``TooManyWatchers``, or ``LookupError`` for an unknown puid.
        """
        ...

    def watchers(self, puid: int) -> list[Watcher]:
        """The sub-account's links, oldest first."""
        ...

    def delete_watcher(self, puid: int, watcher_id: int) -> bool:
        """Delete a link of ``puid``: it opens nothing afterwards. ``False`` if ``puid`` has
        no link ``watcher_id``."""
        ...

    def watcher_puid(self, token: str) -> int | None:
        """The sub-account the token opens; ``None`` for an unknown or deleted one."""
        ...

    def watcher_counts(self, puids: Iterable[int]) -> dict[int, int]:
        """How many links each of ``puids`` has (0 included)."""
        ...
