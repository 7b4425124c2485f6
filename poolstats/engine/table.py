"""Rows of the engine: which slot holds which worker or sub-account.

Workers are found by (puid, name) through one small dict per sub-account (str keys cost
less memory than tuple keys at a million workers). Freed slots are reused.
"""

from __future__ import annotations

import numpy as np

from poolstats.domain.arrays import I64
from poolstats.domain.workers import normalize_worker_name

MAX_ALIASES = 100_000


class SubaccountTable:
    """puid -> row; sub-accounts are few and never evicted."""

    def __init__(self) -> None:
        self.row_of: dict[int, int] = {}
        self.puids: list[int] = []

    def __len__(self) -> int:
        return len(self.puids)

    def rows(self, puids: list[int]) -> tuple[list[int], bool]:
        """Rows for the puids, adding new ones; also says whether any was added."""
        added = False
        out = []
        for puid in puids:
            row = self.row_of.get(puid)
            if row is None:
                row = self.row_of[puid] = len(self.puids)
                self.puids.append(puid)
                added = True
            out.append(row)
        return out, added

    def puid_array(self) -> I64:
        return np.array(self.puids, dtype=np.int64)


class WorkerTable:
    """(puid, worker name) -> row. The engine keeps each row's puid and worker_id in arrays."""

    def __init__(self) -> None:
        self.by_puid: dict[int, dict[str, int]] = {}
        self.names: list[str] = []  # normalised name per row ("" for a free row)
        self.free: list[int] = []
        self.aliases: dict[str, str] = {}  # name as sent -> normalised, for odd names only

    def __len__(self) -> int:
        """Rows in use or free: the size the per-row arrays must have."""
        return len(self.names)

    @property
    def tracked(self) -> int:
        return len(self.names) - len(self.free)

    def rows(
        self, puids: list[int], raw_names: list[str]
    ) -> tuple[list[int], list[tuple[int, int]]]:
        """Rows for (puid, name) pairs as sent, adding unseen workers; also (row, puid) of
        the new ones."""
        out = []
        new = []
        for puid, raw in zip(puids, raw_names, strict=True):
            names = self.by_puid.get(puid)
            if names is None:
                names = self.by_puid[puid] = {}
            row = names.get(raw)
            if row is None:
                name = self._normalized(raw)
                row = names.get(name)
                if row is None:
                    row = names[name] = self._add(name)
                    new.append((row, puid))
            out.append(row)
        return out, new

    def _normalized(self, raw: str) -> str:
        """Cache of odd names (ones that normalise to something else), so the regex runs once."""
        name = self.aliases.get(raw)
        if name is None:
            name = normalize_worker_name(raw)
            if name != raw:
                if len(self.aliases) >= MAX_ALIASES:
                    self.aliases.clear()
                self.aliases[raw] = name
        return name

    def _add(self, name: str) -> int:
        if self.free:
            row = self.free.pop()
            self.names[row] = name
            return row
        self.names.append(name)
        return len(self.names) - 1

    def remove(self, rows: list[int], puids: list[int]) -> None:
        for row, puid in zip(rows, puids, strict=True):
            self.by_puid[puid].pop(self.names[row], None)
            self.names[row] = ""
            self.free.append(row)

    def restore(self, names: list[str], puids: list[int]) -> None:
        """Rebuild the index from a checkpoint (puid 0 marks a free row)."""
        self.names = list(names)
        self.by_puid = {}
        self.free = []
        for row, (name, puid) in enumerate(zip(names, puids, strict=True)):
            if puid == 0:
                self.free.append(row)
            else:
                self.by_puid.setdefault(puid, {})[name] = row
