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
    check_rows,
    entry_error,
    quantize_diff,
    split_login_entry,
)
from poolstats.engine.engine import Engine, ShareBatch
from poolstats.ingest.columnar import decode_columnar
from poolstats.ingest.idempotency import BatchKeys
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
    refused: int = 0
    errors: list[Refusal] = field(default_factory=list)
    seq: int = 0
    reasons: dict[str, int] = field(default_factory=dict)  # refused rows per field
    newest_ts: float = 0.0  # of the accepted shares, for the lag metric
    replayed: bool = False  # answered from an earlier request with the same Idempotency-Key

    @classmethod
    def judged(cls, cols: ShareColumns, good: np.ndarray, refused: list[Refusal]) -> IngestResult:
        """The answer to a batch as judged: ``good`` rows counted, ``refused`` ones named."""
        result = cls(accepted=int(good.sum()))
        refused = sorted(refused, key=lambda r: r.line)
        result.refused = len(refused)
        result.errors = refused[:MAX_LISTED_ERRORS]
        for r in refused:
            reason = r.error.split(":", 1)[0]
            result.reasons[reason] = result.reasons.get(reason, 0) + 1
        if result.accepted:
            result.newest_ts = float(cols.ts[good].max())
        return result

    def as_json(self) -> dict[str, object]:
        """The answer of ``POST /ingest/shares``. ``refused`` counts the events the service did
        not take (a field at fault); ``rejected`` is the same number under its old name, kept
        for producers written before the rename (deprecated): it never meant the pool's
        rejected shares, which are counted events with ``"accepted": false``."""
        return {
            "accepted": self.accepted,
            "refused": self.refused,
            "rejected": self.refused,
            "errors": [{"line": e.line, "error": e.error} for e in self.errors],
        }


_HEADER = struct.Struct("<dIIH")  # judged-at time, bitmap length, rows refused, key length


@dataclass(frozen=True)
class Record:
    """A journaled batch: the body as sent and what was decided about it."""

    now: float
    accepted: bytes  # bitmap over the decoded rows
    refused: int
    key: str  # Idempotency-Key, "" for none
    body: bytes


def pack_record(now: float, accepted: np.ndarray, refused: int, key: str, body: bytes) -> bytes:
    bits = np.packbits(accepted).tobytes()
    raw_key = key.encode()
    return _HEADER.pack(now, len(bits), refused, len(raw_key)) + raw_key + bits + body


def unpack_record(payload: bytes) -> Record:
    now, n_bits, refused, n_key = _HEADER.unpack_from(payload)
    start = _HEADER.size
    key = payload[start : start + n_key].decode()
    bits = payload[start + n_key : start + n_key + n_bits]
    return Record(now, bits, refused, key, payload[start + n_key + n_bits :])


@dataclass(frozen=True)
class Owners:
    """Per worker-table entry: the sub-account and worker name it resolves to, or an error."""

    puid: list[int]  # 0 where the entry is refused
    name: list[str]
    errors: dict[int, str]
    row: list[int]  # the engine row of entries it already tracks, else -1
    epoch: int  # the engine's epoch when ``row`` was read


_NONE: dict[str, int] = {}


def resolve_owners(cols: ShareColumns, subaccounts: Subaccounts, engine: Engine) -> Owners:
    """Resolve each distinct worker of the batch once.

    A (puid, name) the engine already tracks is valid as it stands (the common case: one
    pass of dict look-ups over the table); anything else is split (``user.worker``),
    checked and looked up.
    """
    epoch = engine.epoch  # read first: a later eviction makes the rows stale
    get = engine.index.get
    puids: list[int] = cols.w_puid.tolist()
    names: list[str] = list(cols.w_name)  # type: ignore[arg-type]  # None ones get "" below
    rows = [
        get(puid, _NONE).get(name, -1) if user is None else -1
        for puid, user, name in zip(puids, cols.w_user, names, strict=True)
    ]
    errors: dict[int, str] = {}
    for i in [i for i, row in enumerate(rows) if row < 0]:
        puid, user, name = puids[i], cols.w_user[i], cols.w_name[i]
        error = entry_error(puid, user, name)
        login_user, names[i] = split_login_entry(puid, user, name or "")
        if error is None:
            if puid > 0:
                if not subaccounts.exists(puid):
                    error = f"puid: unknown sub-account {puid}"
            else:
                found = subaccounts.puid_of(login_user or "")
                if found is None:
                    error = f"user: unknown sub-account {login_user!r}"
                puid = found or 0
        if error is not None:
            errors[i] = error
            puid = 0
        puids[i] = puid
    return Owners(puids, names, errors, rows, epoch)


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
        self.keys = BatchKeys()
        self.lock = threading.Lock()  # guards the engine
        self._turn = threading.Condition(self.lock)

    def ingest(self, body: bytes, fmt: Format, key: str = "") -> IngestResult:
        """Judge, journal and count one batch; raises ``BatchError`` for an unreadable one.

        With an idempotency ``key`` already used, answers as the first time, counting nothing.
        """
        if not key:
            return self._ingest(body, fmt, key)
        done = self.keys.begin(key)
        if done is not None:
            return IngestResult(accepted=done[0], refused=done[1], replayed=True)
        try:
            return self._ingest(body, fmt, key)
        finally:
            self.keys.end(key)

    def _ingest(self, body: bytes, fmt: Format, key: str) -> IngestResult:
        now = self.clock()
        cols, decode_refused = self.decode(body, fmt)
        good, refusals, owners = self.judge(cols, now)
        result = IngestResult.judged(cols, good, decode_refused + refusals.listed(cols.line))
        if result.accepted:
            record = pack_record(now, good, result.refused, key, body)
            seq = self.journal.append(fmt, record)
            self.apply_in_order(cols, good, owners, now, seq, body, fmt, key, result.refused)
            result.seq = seq
        elif key:
            self.keys.remember(key, 0, result.refused)
        return result

    def decode(
        self, body: bytes, fmt: Format, resolve: bool = True
    ) -> tuple[ShareColumns, list[Refusal]]:
        if fmt is Format.NDJSON and resolve:
            epoch = self.engine.epoch  # read first: a later eviction makes the rows stale
            return decode_ndjson(body, self.engine.index, epoch)
        return DECODERS[fmt](body)

    def judge(self, cols: ShareColumns, now: float) -> tuple[np.ndarray, Refusals, Owners]:
        _, refusals = check_rows(cols, now, self.future_s)
        owners = resolve_owners(cols, self.subaccounts, self.engine)
        if owners.errors:
            bad_entry = np.zeros(len(owners.puid) + 1, np.bool_)  # [-1]: shares resolved early
            bad_entry[list(owners.errors)] = True
            refusals.add_each(
                bad_entry[cols.worker_idx],
                [owners.errors.get(int(e), "") for e in cols.worker_idx.tolist()],
            )
        return ~refusals.bad, refusals, owners

    def apply_in_order(
        self,
        cols: ShareColumns,
        good: np.ndarray,
        owners: Owners,
        now: float,
        seq: int,
        body: bytes,
        fmt: Format,
        key: str = "",
        refused: int = 0,
    ) -> None:
        """Apply in journal order (see ``_count``)."""
        with self._turn:
            self._turn.wait_for(lambda: self.engine.seq >= seq - 1)
            try:
                stale = cols.known_row is not None and cols.epoch != self.engine.epoch
                if stale or owners.epoch != self.engine.epoch:
                    cols, _ = self.decode(body, fmt, resolve=False)  # rows freed meanwhile
                    owners = resolve_owners(cols, self.subaccounts, self.engine)
                self._count(cols, good, owners, now, seq, True, key, refused)
            finally:
                self._turn.notify_all()

    def _count(
        self,
        cols: ShareColumns,
        good: np.ndarray,
        owners: Owners,
        now: float,
        seq: int,
        history: bool,
        key: str,
        refused: int,
    ) -> None:
        """Apply the good rows and mark the batch counted: ``seq`` and its idempotency key
        move in the same turn (caller holds the lock), so a checkpoint never holds the
        shares without the key or the key without the shares."""
        try:
            self.apply(cols.take(good), owners, now, seq, history)
            if key:
                self.keys.remember(key, int(good.sum()), refused)
        finally:
            self.engine.seq = max(self.engine.seq, seq)

    def apply(
        self, cols: ShareColumns, owners: Owners, now: float, seq: int, history: bool
    ) -> None:
        """Resolve rows and count (caller holds the lock, or is alone: replay)."""
        in_table = cols.worker_idx >= 0
        used = np.flatnonzero(np.bincount(cols.worker_idx[in_table], minlength=len(owners.puid)))
        entry_rows = np.append(np.array(owners.row, np.int64), -1)  # [-1]: not in the table
        used = used[entry_rows[used] < 0]  # entries still to resolve (new workers)
        picked = used.tolist()
        if picked:
            entry_rows[used] = self.engine.worker_rows(
                [owners.puid[i] for i in picked], [owners.name[i] for i in picked]
            )
        rows = entry_rows[cols.worker_idx]
        if cols.known_row is not None:
            rows = np.where(in_table, rows, cols.known_row)
        ip_rows = np.append(self.engine.ip_codes(cols.ips), -1)  # index -1 -> no ip
        agent = None
        if cols.agent_idx is not None and cols.agents:
            agent = np.append(self.engine.agent_codes(cols.agents), -1)[cols.agent_idx]
        batch = ShareBatch(
            rows=rows,
            ts=cols.ts,
            diff=quantize_diff(cols.diff),
            status=cols.status,
            ip=ip_rows[cols.ip_idx],
            agent=agent,
        )
        self.engine.apply(batch, now, seq, history=history)

    def replay(self, payload: bytes, fmt: Format, seq: int, history: bool) -> int:
        """Re-count a journal record exactly as it was counted when acknowledged."""
        record = unpack_record(payload)
        cols, _ = self.decode(record.body, fmt, resolve=False)
        bits = np.frombuffer(record.accepted, np.uint8)
        accepted = np.unpackbits(bits, count=len(cols)).astype(bool)
        with self.lock:
            owners = resolve_owners(cols, self.subaccounts, self.engine)
            self._count(
                cols, accepted, owners, record.now, seq, history, record.key, record.refused
            )
        return int(accepted.sum())
