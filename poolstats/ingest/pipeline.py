"""From a request body to counted shares: decode, validate, journal, then apply in order.

The journal keeps the body as sent plus a bitmap of the rows that were accepted and the
time they were judged at, so a replay applies exactly the acknowledged shares, without
judging them again.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Protocol

import numpy as np

from poolstats.domain.share import (
    Refusal,
    Refusals,
    ShareColumns,
    check,
    quantize_diff,
    split_logins,
)
from poolstats.engine.engine import Engine, ShareBatch
from poolstats.ingest.columnar import decode_columnar
from poolstats.ingest.ndjson import decode_ndjson

MAX_LISTED_ERRORS = 1000


class Format(IntEnum):
    """Journal record kinds: the body format."""

    NDJSON = 1
    COLUMNAR = 2


DECODERS: dict[Format, Callable[[bytes], tuple[ShareColumns, list[Refusal]]]] = {
    Format.NDJSON: decode_ndjson,
    Format.COLUMNAR: decode_columnar,
}


class Subaccounts(Protocol):
    """Who the shares may belong to (backed by the store)."""

    def puid_of(self, name: str) -> int | None: ...

    def exists(self, puid: int) -> bool: ...


class JournalLike(Protocol):
    def append(self, kind: int, payload: bytes) -> int: ...


@dataclass
class IngestResult:
    accepted: int = 0
    rejected: int = 0
    errors: list[Refusal] = field(default_factory=list)
    seq: int = 0
    reasons: dict[str, int] = field(default_factory=dict)  # refused rows per field

    def as_json(self) -> dict[str, object]:
        return {
            "accepted": self.accepted,
            "rejected": self.rejected,
            "errors": [{"line": e.line, "error": e.error} for e in self.errors],
        }


_HEADER = struct.Struct("<dI")  # judged-at time, bitmap length


def pack_record(now: float, accepted: np.ndarray, body: bytes) -> bytes:
    bits = np.packbits(accepted).tobytes()
    return _HEADER.pack(now, len(bits)) + bits + body


def unpack_record(payload: bytes) -> tuple[float, bytes, bytes]:
    now, n_bits = _HEADER.unpack_from(payload)
    start = _HEADER.size
    return now, payload[start : start + n_bits], payload[start + n_bits :]


def resolve_owners(
    cols: ShareColumns, subaccounts: Subaccounts
) -> tuple[list[int], list[str], dict[int, str]]:
    """Per worker-table entry: its puid (0 if unknown), its worker name, and entry errors."""
    users, names = split_logins(cols.w_puid, cols.w_user, cols.w_name)
    puids: list[int] = []
    errors: dict[int, str] = {}
    for i, (puid, user) in enumerate(zip(cols.w_puid.tolist(), users, strict=True)):
        if puid > 0:
            if not subaccounts.exists(puid):
                errors[i] = f"puid: unknown sub-account {puid}"
                puid = 0
        elif user:
            found = subaccounts.puid_of(user)
            if found is None:
                errors[i] = f"user: unknown sub-account {user!r}"
                puid = 0
            else:
                puid = found
        puids.append(puid)
    return puids, names, errors


class Ingestor:
    """Thread-safe: request handlers call ``ingest`` from worker threads.

    Appends to the journal run concurrently (it batches their fsyncs); applying to the
    engine then happens strictly in journal order, so that "every batch up to seq N" is
    always a true statement about the engine.
    """

    def __init__(
        self,
        engine: Engine,
        journal: JournalLike,
        subaccounts: Subaccounts,
        clock: Callable[[], float],
        future_s: float = 300.0,
    ) -> None:
        self.engine = engine
        self.journal = journal
        self.subaccounts = subaccounts
        self.clock = clock
        self.future_s = future_s
        self.lock = threading.Lock()  # guards the engine
        self._turn = threading.Condition(self.lock)

    def ingest(self, body: bytes, fmt: Format) -> IngestResult:
        """Judge, journal and count one batch; raises ``BatchError`` for an unreadable one."""
        now = self.clock()
        cols, decode_refused = DECODERS[fmt](body)
        good, refusals = self.judge(cols, now)
        result = IngestResult(accepted=int(good.sum()))
        refused = sorted(decode_refused + refusals.listed(cols.line), key=lambda r: r.line)
        result.rejected = len(refused)
        result.errors = refused[:MAX_LISTED_ERRORS]
        for r in refused:
            reason = r.error.split(":", 1)[0]
            result.reasons[reason] = result.reasons.get(reason, 0) + 1
        if result.accepted:
            seq = self.journal.append(fmt, pack_record(now, good, body))
            self.apply_in_order(cols.take(good), now, seq)
            result.seq = seq
        return result

    def judge(self, cols: ShareColumns, now: float) -> tuple[np.ndarray, Refusals]:
        _, refusals = check(cols, now, self.future_s)
        _, _, owner_errors = resolve_owners(cols, self.subaccounts)
        for entry, message in owner_errors.items():
            refusals.add(cols.worker_idx == entry, message)
        return ~refusals.bad, refusals

    def apply_in_order(self, cols: ShareColumns, now: float, seq: int) -> None:
        with self._turn:
            self._turn.wait_for(lambda: self.engine.seq >= seq - 1)
            try:
                self.apply(cols, now, seq, history=True)
            finally:
                self.engine.seq = max(self.engine.seq, seq)
                self._turn.notify_all()

    def apply(self, cols: ShareColumns, now: float, seq: int, history: bool) -> None:
        """Resolve rows and count (caller holds the lock, or is alone: replay)."""
        puids, names, _ = resolve_owners(cols, self.subaccounts)
        used = np.unique(cols.worker_idx)
        entry_rows = np.full(len(puids), -1, np.int64)
        entry_rows[used] = self.engine.worker_rows(
            [puids[i] for i in used.tolist()], [names[i] for i in used.tolist()]
        )
        ip_rows = np.append(self.engine.ip_codes(cols.ips), -1)  # index -1 -> no ip
        batch = ShareBatch(
            rows=entry_rows[cols.worker_idx],
            ts=cols.ts,
            diff=quantize_diff(cols.diff),
            status=cols.status,
            ip=ip_rows[cols.ip_idx],
        )
        self.engine.apply(batch, now, seq, history=history)

    def replay(self, payload: bytes, fmt: Format, seq: int, history: bool) -> int:
        """Re-count a journal record exactly as it was counted when acknowledged."""
        now, bits, body = unpack_record(payload)
        cols, _ = DECODERS[fmt](body)
        accepted = np.unpackbits(np.frombuffer(bits, np.uint8), count=len(cols)).astype(bool)
        with self.lock:
            self.apply(cols.take(accepted), now, seq, history=history)
            self.engine.seq = max(self.engine.seq, seq)
        return int(accepted.sum())
