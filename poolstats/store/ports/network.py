"""The network port: difficulty and block reward over time, for earnings.

The network poller writes it and the ledger values work with it; the rules of an entry
(decimal difficulty, sources) are ``domain.network_entry``.
"""

from __future__ import annotations

from typing import Any, Protocol


class NetworkPort(Protocol):
    """Network history: entries in force from their ``at`` until the next one."""

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
