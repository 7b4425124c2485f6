"""Which HTTP connections a server keeps when clients hold too many: the rule, without
sockets (``poolstats.api.connections`` applies it).

A connection is *busy* while the server works on one of its requests, and *waiting*
otherwise: waiting for a request's headers or the rest of its body, or idle between
keep-alive requests. Two caps
apply to a new connection: one on its client's open connections (not for trusted proxies,
which carry everyone's) and one on all. Beyond a cap, the connection that has waited
longest within it is closed to make room, so connections that send nothing (the cheap way
to exhaust a server's file descriptors) make way for new ones instead of locking them
out; when every connection within the cap is busy, the new one is refused. Waiting
connections are also closed by deadlines; this rule only decides who goes first.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Generic, TypeVar

C = TypeVar("C")


@dataclass
class Admission(Generic[C]):
    admitted: bool
    evicted: list[tuple[C, str]] = field(default_factory=list)  # to close now, and which cap
    refused_by: str = ""  # "address" or "total" when not admitted


class ConnectionCaps(Generic[C]):
    """Open connections by client key; ``per_address`` or ``total`` of 0 means no cap."""

    def __init__(self, per_address: int, total: int) -> None:
        self.per_address, self.total = per_address, total
        self._key: dict[C, str] = {}
        self._count: dict[str, int] = {}
        # Insertion order: longest waiting first. OrderedDict, not dict: a dict whose oldest
        # entries keep being deleted walks over their empty slots to find the next oldest.
        self._waiting: OrderedDict[C, None] = OrderedDict()
        self._waiting_by_key: dict[str, OrderedDict[C, None]] = {}

    def __len__(self) -> int:
        return len(self._key)

    def count(self, key: str) -> int:
        return self._count.get(key, 0)

    def open(self, conn: C, key: str, capped: bool = True) -> Admission[C]:
        """Admit ``conn`` of client ``key`` as waiting, closing others to make room; with
        ``capped`` false (a trusted proxy) only the total cap applies."""
        evicted: list[tuple[C, str]] = []
        if capped and self.per_address and self.count(key) >= self.per_address:
            oldest = next(iter(self._waiting_by_key.get(key, {})), None)
            if oldest is None:
                return Admission(False, evicted, "address")
            self.close(oldest)
            evicted.append((oldest, "address"))
        if self.total and len(self._key) >= self.total:
            oldest = next(iter(self._waiting), None)
            if oldest is None:
                return Admission(False, evicted, "total")
            self.close(oldest)
            evicted.append((oldest, "total"))
        self._key[conn] = key
        self._count[key] = self.count(key) + 1
        self.waiting(conn)
        return Admission(True, evicted)

    def busy(self, conn: C) -> None:
        """A request of ``conn`` is being served: it is not closed to make room."""
        key = self._key.get(conn)
        if key is None:
            return
        self._waiting.pop(conn, None)
        mine = self._waiting_by_key.get(key)
        if mine is not None:
            mine.pop(conn, None)
            if not mine:
                del self._waiting_by_key[key]

    def waiting(self, conn: C) -> None:
        """``conn`` waits for a request again; it now ranks as the newest waiting."""
        key = self._key.get(conn)
        if key is None:
            return
        self.busy(conn)
        self._waiting[conn] = None
        self._waiting_by_key.setdefault(key, OrderedDict())[conn] = None

    def close(self, conn: C) -> None:
        """Forget ``conn`` (idempotent: a closed connection reports its loss later too)."""
        if conn not in self._key:
            return
        self.busy(conn)
        key = self._key.pop(conn)
        left = self._count[key] - 1
        if left:
            self._count[key] = left
        else:
            del self._count[key]
