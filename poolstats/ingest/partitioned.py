"""A judged batch cut into one record per partition, for the share bus.

The gateway decodes and judges a producer's batch as a node does, then sends each partition
only its own shares: the accepted rows whose sub-account maps to it, as a columnar body whose
worker table carries each worker's resolved puid and bare name. Wrapped in the journal's
record (``pipeline.pack_record``) with every row marked accepted, it is what an aggregator
counts with ``Ingestor.replay``: the same code that replays a node's own journal, so a share
counts the same whether it came through a node or through the bus.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from poolstats.domain.share import ShareColumns
from poolstats.ingest.columnar import encode_table
from poolstats.ingest.pipeline import Owners, pack_record


def split_by_partition(
    cols: ShareColumns,
    good: np.ndarray,
    owners: Owners,
    partition_of: Callable[[int], int],
    now: float,
    max_bytes: int,
) -> dict[int, list[bytes]]:
    """Per partition that has accepted shares: its records (see the module docstring), more
    than one where a single one would be over ``max_bytes`` (the bus's largest message).

    ``cols`` must be decoded without the engine's index (every share points into the worker
    table), as the gateway has no engine.
    """
    entry_part = np.array([partition_of(p) if p > 0 else -1 for p in owners.puid], np.int64)
    share_part = np.where(good, entry_part[cols.worker_idx], -1)
    records: dict[int, list[bytes]] = {}
    for part in np.unique(share_part[share_part >= 0]).tolist():
        records[part] = _records(cols, owners, np.flatnonzero(share_part == part), now, max_bytes)
    return records


def _records(
    cols: ShareColumns, owners: Owners, rows: np.ndarray, now: float, max_bytes: int
) -> list[bytes]:
    """``rows`` as one record, or halved until each half fits in ``max_bytes``."""
    record = _record(cols, owners, rows, now)
    if len(record) <= max_bytes:
        return [record]
    if len(rows) == 1:
        raise ValueError(f"one share makes a record of {len(record)} bytes, over {max_bytes}")
    half = len(rows) // 2
    return _records(cols, owners, rows[:half], now, max_bytes) + _records(
        cols, owners, rows[half:], now, max_bytes
    )


def _record(cols: ShareColumns, owners: Owners, rows: np.ndarray, now: float) -> bytes:
    """One record of ``rows``: their columns, the worker table they use, their addresses."""
    used, worker_idx = np.unique(cols.worker_idx[rows], return_inverse=True)
    ip_idx = cols.ip_idx[rows]
    has_ip = ip_idx >= 0
    ips_used, ip_new = np.unique(ip_idx[has_ip], return_inverse=True)
    ip_out = np.full(len(rows), -1, np.int64)
    ip_out[has_ip] = ip_new
    body = encode_table(
        cols.ts[rows],
        cols.diff[rows],
        cols.status[rows],
        worker_idx,
        [owners.name[i] for i in used.tolist()],
        worker_puid=np.array([owners.puid[i] for i in used.tolist()], np.int64),
        ip_idx=ip_out,
        ip=[cols.ips[i] for i in ips_used.tolist()],
    )
    return pack_record(now, np.ones(len(rows), np.bool_), 0, "", body)
