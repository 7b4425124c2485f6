"""The columnar batch format for high-rate producers: one msgpack map of typed columns.

A column is either a msgpack ``bin`` of little-endian values (read in place by numpy) or a
plain msgpack array. Workers are a table: ``worker`` lists each distinct worker of the batch
once, with its sub-account in ``worker_puid`` (or ``worker_user``), and ``worker_idx`` points
into it per share. The layout is documented in docs/ingest.md.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
import numpy as np
import numpy.typing as npt

from poolstats.domain.field_error import field_problem
from poolstats.domain.share import MAX_PUID, Refusal, ShareColumns, Status

CONTENT_TYPE = "application/vnd.poolstats.shares+msgpack"
CONTENT_TYPES = frozenset({CONTENT_TYPE, "application/msgpack", "application/x-msgpack"})
FORMAT_VERSION = 1
_BAD_STATUS = 254  # as poolstats.ingest.ndjson: an unknown status

FloatColumn = bytes | list[float]
IntColumn = bytes | list[int]


class ColumnarBatch(msgspec.Struct, omit_defaults=True):
    ts: FloatColumn
    diff: FloatColumn
    status: IntColumn  # 0 accept, 1 reject, 2 stale
    worker_idx: IntColumn  # per share, into the worker table
    worker: list[str]  # the worker table: names
    worker_puid: IntColumn | None = None  # per table entry
    worker_user: list[str] | None = None  # per table entry, instead of worker_puid
    ip_idx: IntColumn | None = None  # per share, into ip; -1 none
    ip: list[str] | None = None
    v: int = FORMAT_VERSION


class BatchError(ValueError):
    """The batch as a whole is unreadable (not a single bad row): answered with HTTP 400."""


_DECODER = msgspec.msgpack.Decoder(ColumnarBatch)
_DTYPES: dict[str, str] = {
    "ts": "<f8",
    "diff": "<f8",
    "status": "u1",
    "worker_idx": "<i4",
    "worker_puid": "<i8",
    "ip_idx": "<i4",
}


def _column(value: bytes | list[float] | list[int], name: str, n: int | None) -> np.ndarray:
    dtype = np.dtype(_DTYPES[name])
    if isinstance(value, bytes):
        if len(value) % dtype.itemsize:
            raise BatchError(f"{name}: {len(value)} bytes is not a whole number of {dtype.name}")
        array = np.frombuffer(value, dtype=dtype)
    else:
        try:
            array = np.asarray(value, dtype=dtype)
        except (OverflowError, ValueError, TypeError) as exc:
            raise BatchError(f"{name}: {exc}") from exc
    if n is not None and len(array) != n:
        raise BatchError(f"{name}: {len(array)} values, expected {n}")
    return array


def _index(value: bytes | list[int], name: str, n: int, size: int) -> np.ndarray:
    idx = _column(value, name, n).astype(np.int64)
    if len(idx) and (idx.max() >= size or idx.min() < -1):
        raise BatchError(f"{name}: values must be from -1 to {size - 1}")
    return idx


def _describe(exc: msgspec.DecodeError) -> str:
    """Lead with the field msgspec names ("Expected `int`, got `str` - at `$.ts[3]`")."""
    field, problem = field_problem(exc)
    return f"{field}: {problem}" if field else f"columnar batch: {problem}"


def _status(values: np.ndarray) -> np.ndarray:
    """Status codes; an unknown one (255 included) is refused as ``status``, not ``accepted``."""
    status = values.astype(np.uint8)
    return np.where(status > Status.STALE, np.uint8(_BAD_STATUS), status)


def decode_columnar(body: bytes) -> tuple[ShareColumns, list[Refusal]]:
    """Decode a columnar batch; a structural fault raises ``BatchError`` naming the field."""
    try:
        batch = _DECODER.decode(body)
    except msgspec.DecodeError as exc:
        raise BatchError(_describe(exc)) from exc
    except RecursionError:  # an unknown member nested past the stack: skipping it recurses
        raise BatchError("columnar batch: a value is nested too deeply") from None
    if batch.v != FORMAT_VERSION:
        raise BatchError(f"v: unsupported format version {batch.v}, expected {FORMAT_VERSION}")
    ts = _column(batch.ts, "ts", None).astype(np.float64)
    n = len(ts)
    n_workers = len(batch.worker)
    if batch.worker_puid is not None:
        w_puid = _column(batch.worker_puid, "worker_puid", n_workers).astype(np.int64)
        w_puid = np.where((w_puid < 1) | (w_puid > MAX_PUID), -1, w_puid)
    else:
        w_puid = np.zeros(n_workers, dtype=np.int64)
    w_user: list[str | None] = [None] * n_workers
    if batch.worker_user is not None:
        if len(batch.worker_user) != n_workers:
            raise BatchError(f"worker_user: {len(batch.worker_user)} names, expected {n_workers}")
        w_user = list(batch.worker_user)
    worker_idx = _index(batch.worker_idx, "worker_idx", n, n_workers)
    if len(worker_idx) and worker_idx.min() < 0:
        raise BatchError("worker_idx: every share needs a worker")
    ips = batch.ip or []
    ip_idx = (
        _index(batch.ip_idx, "ip_idx", n, len(ips))
        if batch.ip_idx is not None
        else np.full(n, -1, dtype=np.int64)
    )
    cols = ShareColumns(
        line=np.arange(1, n + 1, dtype=np.int64),
        ts=ts,
        diff=_column(batch.diff, "diff", n).astype(np.float64),
        status=_status(_column(batch.status, "status", n)),
        worker_idx=worker_idx,
        ip_idx=ip_idx,
        ips=list(ips),
        w_puid=w_puid,
        w_user=w_user,
        w_name=list(batch.worker),
    )
    return cols, []


def encode_table(
    ts: npt.ArrayLike,
    diff: npt.ArrayLike,
    status: npt.ArrayLike,
    worker_idx: npt.ArrayLike,
    worker: Sequence[str],
    worker_puid: npt.ArrayLike | None = None,
    worker_user: Sequence[str] | None = None,
    ip_idx: npt.ArrayLike | None = None,
    ip: Sequence[str] | None = None,
) -> bytes:
    """Encode a batch whose producer already keeps a worker table (the fastest form)."""

    def raw(values: npt.ArrayLike, name: str) -> bytes:
        return np.ascontiguousarray(values, dtype=_DTYPES[name]).tobytes()

    batch = ColumnarBatch(
        ts=raw(ts, "ts"),
        diff=raw(diff, "diff"),
        status=raw(status, "status"),
        worker_idx=raw(worker_idx, "worker_idx"),
        worker=list(worker),
        worker_puid=raw(worker_puid, "worker_puid") if worker_puid is not None else None,
        worker_user=list(worker_user) if worker_user is not None else None,
        ip_idx=raw(ip_idx, "ip_idx") if ip_idx is not None else None,
        ip=list(ip) if ip is not None else None,
    )
    return msgspec.msgpack.encode(batch)


def encode_columnar(
    ts: npt.ArrayLike,
    diff: npt.ArrayLike,
    status: npt.ArrayLike,
    workers: Sequence[str],
    worker_idx: npt.ArrayLike,
    puid: npt.ArrayLike | None = None,
    users: Sequence[str] | None = None,
    user_idx: npt.ArrayLike | None = None,
    ips: Sequence[str] | None = None,
    ip_idx: npt.ArrayLike | None = None,
) -> bytes:
    """Encode per-share columns (worker names, and puid or user per share) as a batch."""
    widx = np.asarray(worker_idx, dtype=np.int64)
    if puid is not None:
        owner = np.asarray(puid, dtype=np.int64)
    elif users is not None and user_idx is not None:
        owner = np.asarray(user_idx, dtype=np.int64)
    else:
        raise ValueError("give puid, or users with user_idx")
    pairs, table_idx = np.unique(owner * len(workers) + widx, return_inverse=True)
    table_owner, table_name = np.divmod(pairs, len(workers))
    names = [workers[i] for i in table_name.tolist()]
    return encode_table(
        ts,
        diff,
        status,
        table_idx,
        names,
        worker_puid=table_owner if puid is not None else None,
        worker_user=[users[i] for i in table_owner.tolist()] if puid is None and users else None,
        ip_idx=ip_idx,
        ip=ips,
    )
