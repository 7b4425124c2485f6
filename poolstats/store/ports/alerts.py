"""The alerts port: each sub-account's alert settings, contacts, log and alert states.

The alert evaluator and the alert API need this and some stats, nothing else of a store;
``store.alerts.AlertStore`` implements it over any ``UnitOfWork``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import sqlalchemy as sa

from poolstats.domain.alerts import AlertKind, AlertState

if TYPE_CHECKING:  # the port's data types live with their implementation
    from poolstats.store.alerts import AlertConfig, LogEntry


class AlertsPort(Protocol):
    """Alert settings, contacts, log and the evaluator's state, per sub-account (puid)."""

    def settings(self, puid: int) -> AlertConfig:
        """The sub-account's settings; ``NO_ALERT`` if it never set any."""
        ...

    def all_settings(self) -> dict[int, AlertConfig]:
        """Every stored sub-account's settings, by puid."""
        ...

    def update_settings(self, puid: int, changes: Mapping[str, Any], now: int) -> AlertConfig:
        """Apply ``changes`` (``AlertConfig`` field -> value) and return the settings stored;
        an alert turned off forgets its state."""
        ...

    def contacts(self, puid: int) -> list[dict[str, Any]]:
        """The sub-account's contacts, oldest first."""
        ...

    def contacts_of(self, puids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
        """Contacts of several sub-accounts at once (the evaluator's), by puid."""
        ...

    def create_contact(
        self, puid: int, note: str, email: str | None, webhook_url: str | None, now: int
    ) -> dict[str, Any]:
        """A new contact; ``ValueError`` naming the field for a bad one, ``TooManyContacts``
        past the limit."""
        ...

    def update_contact(
        self, puid: int, contact_id: int, changes: Mapping[str, str | None], now: int
    ) -> dict[str, Any] | None:
        """Change the given fields; ``None`` if the contact is not the sub-account's."""
        ...

    def delete_contact(self, puid: int, contact_id: int) -> bool:
        """``False`` if the contact is not one of this sub-account's."""
        ...

    def log(self, puid: int, offset: int, limit: int) -> tuple[int, list[dict[str, Any]]]:
        """(entries in all, a page of them newest first)."""
        ...

    def mark_read(self, puid: int, log_id: int) -> bool:
        """``False`` if the entry is not one of this sub-account's; reading twice is fine."""
        ...

    def append_log(self, entries: Sequence[LogEntry]) -> list[int]:
        """Add entries (e.g. failed deliveries); their ids in order."""
        ...

    def states(self) -> dict[tuple[int, AlertKind], AlertState]:
        """Every alert that is not idle, by (puid, kind)."""
        ...

    def record(
        self,
        states: Mapping[tuple[int, AlertKind], AlertState],
        entries: Sequence[LogEntry],
        now: int,
        guard: Callable[[sa.Connection], None] | None = None,
    ) -> list[int]:
        """A check's new states and log entries in one transaction, so they never disagree;
        ``guard`` runs last, before the commit, and refuses it by raising."""
        ...

    def names(self, puids: Iterable[int]) -> dict[int, str]:
        """Sub-account names by puid, for notices."""
        ...
