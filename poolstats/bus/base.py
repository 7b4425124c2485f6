"""The share bus port: what gateways publish share batches to and aggregators consume from.

Why a port: one node runs everything in one process (an in-memory bus), a cluster runs
gateways and aggregators as separate processes over NATS JetStream; the gateway and the
aggregator are written once against this contract, and one contract test suite
(tests/bus/contract.py) runs unchanged against every backend.

Sequences. A bus numbers every batch it stores with a *stream sequence*: one counter for the
whole bus, increasing, shared by all partitions (JetStream numbers one stream, not one subject).
Within a partition the sequences are therefore increasing but not consecutive (partition 0
may hold 1, 4, 5, 9). An aggregator records the last sequence it applied for its partition
and resumes with ``consume(partition, after_seq=that)``: it gets exactly the batches of that
partition with a greater sequence, in order. Nothing may assume "next = last + 1".

Exactly once, end to end: a producer gives each batch an id (``msg_id``) that is the same on
every retry of that batch; the bus stores an id once within its dedupe window
(``bus_dedupe_window_s``) and answers a retry with the first copy's sequence. The id is
unique per bus, not per partition: two partitions' batches must not share an id.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from types import TracebackType


class BusError(Exception):
    """Something about the share bus went wrong."""


class BusUnavailable(BusError):
    """The bus did not accept (or answer) in time: the caller keeps the batch and tries again
    later, with the same ``msg_id`` (spool to disk, or answer HTTP 503 to its producer)."""


@dataclass(frozen=True, slots=True)
class Published:
    """What the bus answered to a publish: the batch's stream sequence, and ``duplicate`` when
    the same ``msg_id`` had been stored before (``seq`` is then the first copy's)."""

    seq: int
    duplicate: bool


@dataclass(frozen=True, slots=True)
class Delivery:
    """One stored batch handed to a consumer: its stream sequence, partition, id and bytes."""

    seq: int
    partition: int
    msg_id: str
    payload: bytes


class Subscription(ABC):
    """The batches of one partition after a sequence, in order, each handed out once.

    Acknowledgement is cumulative (``ack_through``): the aggregator acknowledges after the
    store commit that holds the batches, so an unacknowledged batch is never lost, only
    handed out again to the next ``consume`` (which starts after the sequence the aggregator
    stored, and so skips what it already applied)."""

    @abstractmethod
    async def fetch(self, max_msgs: int, timeout_s: float) -> list[Delivery]:
        """Up to ``max_msgs`` next batches, waiting at most ``timeout_s`` for the first one;
        empty when none came. ``BusUnavailable`` when the bus cannot be reached."""

    @abstractmethod
    async def ack_through(self, seq: int) -> None:
        """Acknowledge every batch of this partition with a sequence up to ``seq`` (one that
        ``fetch`` has handed out). ``BusUnavailable`` when the bus cannot be reached; the
        acknowledgement is remembered and sent again by the next ``fetch`` or ``ack_through``
        (and if it never is, the batches are only handed out again to a later ``consume``,
        which starts after the sequence the caller recorded anyway)."""

    @abstractmethod
    async def lag(self) -> int:
        """Batches of this partition stored but not yet acknowledged (the staleness gauge)."""

    @abstractmethod
    async def close(self) -> None:
        """Stop consuming (the bus keeps the acknowledgement state)."""


class Bus(ABC):
    """A partitioned, durable, deduplicating bus of share batches (an async context manager)."""

    partitions: int

    @abstractmethod
    async def publish(self, partition: int, payload: bytes, msg_id: str) -> Published:
        """Store ``payload`` on ``partition``; returns once the bus has durably accepted it.

        The same ``msg_id`` again within the dedupe window is stored once. ``BusUnavailable``
        when the bus did not acknowledge within the publish timeout; ``ValueError`` for a
        partition out of range or a payload over ``max_payload``."""

    @abstractmethod
    async def consume(self, partition: int, after_seq: int) -> Subscription:
        """The batches of ``partition`` with a sequence greater than ``after_seq``.

        One consumer per partition: a new ``consume`` of a partition replaces the previous
        one (a restarted or taking-over aggregator), whose acknowledgements stop counting."""

    @abstractmethod
    async def last_seq(self) -> int:
        """The stream's last sequence, any partition (0 when empty): where an aggregator
        with no recorded sequence for its partition starts (docs/cluster.md, Partitions)."""

    @abstractmethod
    async def follow(self, partition: int, after_seq: int) -> Subscription:
        """The batches of ``partition`` after ``after_seq``, read without acknowledging: a hot
        standby keeps its engine current this way. Any number may follow a partition; none of
        them touches ``consume``'s consumer, and their ``ack_through`` does nothing."""

    @property
    def connected(self) -> bool:
        """Whether the bus can be reached now (``/healthz``); always, in process."""
        return True

    @property
    @abstractmethod
    def max_payload(self) -> int:
        """The largest payload one publish may carry, in bytes."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections; the stored batches stay (for a durable backend)."""

    def check_partition(self, partition: int) -> None:
        if not 0 <= partition < self.partitions:
            raise ValueError(f"partition {partition} is not in 0..{self.partitions - 1}")

    async def __aenter__(self) -> Bus:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
