"""``poolstats gateway``: the ``/ingest/shares`` contract, unchanged, publishing to the bus.

A batch is judged here exactly as a node judges it (same decoders, same checks, same
sub-accounts), then cut per partition (``ingest.partitioned``) and published. The producer's
answer comes only after the bus has acknowledged every partition's record: a 200 means the
shares are durable on the bus, as on a node it means they are in the journal.

Exactly once per batch: each record's bus id is the batch's Idempotency-Key, or without one
the SHA-256 of its body, plus the partition and the record's number within it (a partition's
shares of one batch go as several records when one would be over the bus's largest message).
A retry of a batch whose answer was lost gets the same ids, which the bus stores once within
its dedupe window (``bus_dedupe_window_s``); the gateway that gets the retry need not be the
one that got the first try.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from poolstats.bus.base import Bus
from poolstats.clock import Clock
from poolstats.config import Settings
from poolstats.domain.partitions import partition_of
from poolstats.engine.engine import Engine
from poolstats.ingest.partitioned import split_by_partition
from poolstats.ingest.pipeline import Format, Ingestor, IngestResult, Subaccounts
from poolstats.metrics import Metrics
from poolstats.service import Registry
from poolstats.threads import in_thread


class _NoJournal:
    def append(self, kind: int, payload: bytes) -> int:
        raise AssertionError("a gateway publishes; it journals nothing")


class Gateway:
    def __init__(
        self,
        bus: Bus,
        subaccounts: Subaccounts,
        clock: Callable[[], float],
        future_s: float,
    ) -> None:
        self.bus = bus
        self.clock = clock
        # An engine that stays empty: judging asks the sub-accounts for every worker.
        self._judge = Ingestor(Engine(), _NoJournal(), subaccounts, clock, future_s)

    def judge(self, body: bytes, fmt: Format) -> tuple[IngestResult, dict[int, list[bytes]]]:
        """The producer's answer and the per-partition records (CPU work: run in a thread).
        ``BatchError`` for an unreadable batch, as on a node."""
        now = self.clock()
        cols, decode_refused = self._judge.decode(body, fmt, resolve=False)
        good, refusals, owners = self._judge.judge(cols, now)
        result = IngestResult.judged(cols, good, decode_refused + refusals.listed(cols.line))
        partitions = self.bus.partitions
        records = split_by_partition(
            cols, good, owners, lambda puid: partition_of(puid, partitions), now,
            self.bus.max_payload,
        )  # fmt: skip
        return result, records

    async def ingest(self, body: bytes, fmt: Format, key: str = "") -> IngestResult:
        """Judge, publish every partition's record, answer. ``BusUnavailable`` when the bus
        did not take them all: the producer retries, and what was stored counts once."""
        result, records = await in_thread(self.judge, body, fmt)
        batch_id = key or hashlib.sha256(body).hexdigest()
        published = await asyncio.gather(
            *(
                self.bus.publish(p, record, f"{batch_id}.{p}.{i}")
                for p, chunks in records.items()
                for i, record in enumerate(chunks)
            )
        )
        result.replayed = bool(published) and all(p.duplicate for p in published)
        result.seq = max((p.seq for p in published), default=0)
        return result


@dataclass
class GatewayNode:
    """A gateway process: what the ingest routes need (``api.ingest.IngestNode``), with the
    shares going to the bus instead of a journal."""

    settings: Settings
    clock: Clock
    metrics: Metrics
    registry: Registry
    gateway: Gateway

    async def ingest(self, body: bytes, fmt: Format, key: str = "") -> IngestResult:
        return await self.gateway.ingest(body, fmt, key)
