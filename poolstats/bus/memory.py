"""The in-process share bus: one process (``poolstats serve``) and the tests.

Why it mimics JetStream closely (one sequence counter for all partitions, dedupe by id
across partitions within a window, cumulative acknowledgement): code that works against it
then works against NATS, and the one contract suite proves both. It keeps everything in
memory; a restart loses it, which is fine where publisher and consumer share the process
(the journal in front of it is what survives a restart there).
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections import OrderedDict
from collections.abc import Callable

from poolstats.bus.base import Bus, Delivery, Published, Subscription

DEFAULT_MAX_PAYLOAD = 1024 * 1024  # the same as a NATS server's default max_payload


class _Partition:
    """One partition's stored batches, in sequence order, and its acknowledgement floor."""

    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.deliveries: list[Delivery] = []
        self.acked_through = 0
        self.consumer: MemorySubscription | None = None
        self.arrived = asyncio.Event()

    def after(self, seq: int) -> int:
        """Index of the first stored batch with a sequence greater than ``seq``."""
        return bisect.bisect_right(self.seqs, seq)


class MemoryBus(Bus):
    """The in-process bus; ``clock`` (monotonic seconds) is for the dedupe window in tests."""

    def __init__(
        self,
        partitions: int = 1,
        dedupe_window_s: float = 120.0,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if partitions < 1:
            raise ValueError("partitions must be at least 1")
        self.partitions = partitions
        self.dedupe_window_s = dedupe_window_s
        self._max_payload = max_payload
        self._clock = clock
        self._seq = 0
        self._parts = [_Partition() for _ in range(partitions)]
        self._ids: OrderedDict[str, tuple[int, float]] = OrderedDict()  # id -> (seq, time)
        self._closed = False

    @property
    def max_payload(self) -> int:
        return self._max_payload

    def _forget_old_ids(self, now: float) -> None:
        while self._ids:
            _, (_, at) = next(iter(self._ids.items()))
            if now - at < self.dedupe_window_s:
                return
            self._ids.popitem(last=False)

    async def publish(self, partition: int, payload: bytes, msg_id: str) -> Published:
        self.check_partition(partition)
        if len(payload) > self._max_payload:
            raise ValueError(f"payload of {len(payload)} bytes is over {self._max_payload}")
        if self._closed:
            raise RuntimeError("the bus is closed")
        now = self._clock()
        self._forget_old_ids(now)
        if msg_id in self._ids:
            return Published(self._ids[msg_id][0], True)
        self._seq += 1
        self._ids[msg_id] = (self._seq, now)
        part = self._parts[partition]
        part.seqs.append(self._seq)
        part.deliveries.append(Delivery(self._seq, partition, msg_id, bytes(payload)))
        part.arrived.set()
        return Published(self._seq, False)

    async def consume(self, partition: int, after_seq: int) -> Subscription:
        self.check_partition(partition)
        part = self._parts[partition]
        # Like a re-created durable consumer: everything up to after_seq counts as done.
        part.acked_through = after_seq
        part.consumer = MemorySubscription(part, after_seq)
        return part.consumer

    async def follow(self, partition: int, after_seq: int) -> Subscription:
        self.check_partition(partition)
        return MemoryFollower(self._parts[partition], after_seq)

    async def last_seq(self) -> int:
        return self._seq

    async def close(self) -> None:
        self._closed = True


class MemorySubscription(Subscription):
    def __init__(self, part: _Partition, after_seq: int) -> None:
        self._part = part
        self._next = part.after(after_seq)  # index of the next batch to hand out
        self._delivered_through = after_seq

    def _current(self) -> bool:
        return self._part.consumer is self

    async def fetch(self, max_msgs: int, timeout_s: float) -> list[Delivery]:
        part = self._part
        if self._next >= len(part.deliveries) and self._current():
            part.arrived.clear()
            try:
                await asyncio.wait_for(part.arrived.wait(), timeout_s)
            except TimeoutError:
                return []
        if not self._current():
            return []  # replaced by a newer consume of this partition
        batch = part.deliveries[self._next : self._next + max_msgs]
        self._next += len(batch)
        if batch:
            self._delivered_through = batch[-1].seq
        return batch

    async def ack_through(self, seq: int) -> None:
        if self._current():  # only what was handed out can be acknowledged
            seq = min(seq, self._delivered_through)
            self._part.acked_through = max(self._part.acked_through, seq)

    async def lag(self) -> int:
        part = self._part
        return len(part.seqs) - part.after(part.acked_through)

    async def close(self) -> None:
        if self._current():
            self._part.consumer = None


class MemoryFollower(MemorySubscription):
    """Reads like a subscription, is never the partition's consumer, acknowledges nothing."""

    def _current(self) -> bool:
        return True

    async def ack_through(self, seq: int) -> None:
        return None

    async def close(self) -> None:
        return None
