"""The share bus on NATS JetStream: the cluster's backend.

One stream (``POOLSTATS_SHARES``) holds every partition, one subject per partition
(``poolstats.shares.<K>``). A publish is a JetStream publish with a ``Nats-Msg-Id`` header
(JetStream's dedupe window) that returns after the PubAck, i.e. after the stream's leader and
a quorum of its replicas stored the batch. Each partition has one durable pull consumer,
``aggregate-<K>``, acknowledgement policy "all" (cumulative), re-created on every
``consume`` to start right after the sequence the aggregator has recorded in its own store.

Why re-create rather than reuse the consumer: the aggregator's store, not JetStream, is the
record of what was applied (the sequence is written in the same transaction as the flush).
Starting from that sequence makes a restart or a take-over exact whatever the consumer had
acknowledged.

After a reconnect (a server restarted, or the client moved to another server of the
cluster) a pull may have lost batches in flight; the subscription then re-creates its
consumer from its acknowledgement floor and skips what it had already handed out, so the
caller still sees each batch once and in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    StorageType,
    StreamConfig,
)

from poolstats.bus.base import (
    Bus,
    BusError,
    BusUnavailable,
    Delivery,
    Published,
    Subscription,
)
from poolstats.domain.partitions import SUBJECT_PREFIX, subject_of, subjects_of

log = logging.getLogger(__name__)

STREAM = "POOLSTATS_SHARES"
MSG_ID = "Nats-Msg-Id"
# Acknowledged-but-unconfirmed batches a consumer may have out; far above what one
# aggregator fetches between two flushes, so the server never stops handing out batches.
MAX_ACK_PENDING = 1_000_000
# A follower's consumer outlives a follower gone without closing it, and a standby that
# stops fetching while the active one is slow to store (an hour: then the server drops it).
FOLLOWER_IDLE_S = 3600.0
# What a consumer's subscription may hold unread before the client drops deliveries (nats-py
# calls that a slow consumer and only reports it): a fetch of FETCH_MAX records of up to a
# server's max_payload stays far below it; a drop is caught anyway (``NatsSubscription.fetch``).
PENDING_BYTES_LIMIT = 256 * 1024 * 1024
# Calls to the JetStream API (stream and consumer info, create, delete, ack) wait this long.
API_TIMEOUT_S = 5.0
# The shortest pull: nats-py refuses a fetch timeout of 0 (the server needs an expiry), and a
# caller whose deadline has passed asks for 0 (an aggregator late for its flush, under load).
MIN_FETCH_S = 0.01

# Errors that mean "the bus is not reachable or not ready now": try again later.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    TimeoutError,  # asyncio's and nats.errors.TimeoutError are one
    nats.errors.NoRespondersError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.StaleConnectionError,
    nats.errors.NoServersError,
    nats.js.errors.NoStreamResponseError,
    nats.js.errors.ServiceUnavailableError,
    nats.js.errors.ServerError,
    OSError,
)
_ANY: tuple[type[BaseException], ...] = (*_UNAVAILABLE, nats.errors.Error)

T = TypeVar("T")


def server_list(bus_url: str) -> list[str]:
    """``nats://a:4222, nats://b:4222`` as a list of server URLs (blanks dropped)."""
    servers = [s.strip() for s in bus_url.split(",") if s.strip()]
    if not servers:
        raise ValueError("bus_url names no NATS server")
    return servers


async def _guard(what: str, call: Callable[[], Awaitable[T]]) -> T:
    """``call()``, its NATS errors as ``BusUnavailable`` (transient) or ``BusError``."""
    try:
        return await call()
    except _UNAVAILABLE as exc:
        raise BusUnavailable(f"{what}: {type(exc).__name__}: {exc}") from exc
    except nats.errors.Error as exc:
        raise BusError(f"{what}: {type(exc).__name__}: {exc}") from exc


class NatsBus(Bus):
    """The JetStream bus; open it with ``await NatsBus.connect(...)`` (or ``open_bus``)."""

    def __init__(
        self,
        nc: Client,
        *,
        partitions: int,
        stream: str,
        prefix: str,
        publish_timeout_s: float,
        ack_wait_s: float,
    ) -> None:
        self.partitions = partitions
        self.stream = stream
        self.prefix = prefix
        self.publish_timeout_s = publish_timeout_s
        self.ack_wait_s = ack_wait_s
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream(timeout=API_TIMEOUT_S)
        # Consumers (stream, name) a delivery of which the client dropped (nats-py's slow
        # consumer), until their subscription takes note (``NatsSubscription.fetch``).
        self.dropped: set[tuple[str, str]] = set()

    @classmethod
    async def connect(
        cls,
        bus_url: str,
        *,
        partitions: int = 1,
        replicas: int = 1,
        retention_s: float = 7 * 86400,
        dedupe_window_s: float = 120.0,
        max_bytes: int = 0,
        publish_timeout_s: float = 5.0,
        ack_wait_s: float = 300.0,
        stream: str = STREAM,
        prefix: str = SUBJECT_PREFIX,
        connect_timeout_s: float = 5.0,
    ) -> NatsBus:
        """Connect to the servers of ``bus_url`` (reconnecting without end, every 0.25 s,
        once connected) and make sure the stream exists with these settings.
        ``BusUnavailable`` when no server answers within ``connect_timeout_s``."""
        if partitions < 1:
            raise ValueError("partitions must be at least 1")
        servers = server_list(bus_url)

        async def on_error(exc: Exception) -> None:
            if isinstance(exc, nats.errors.SlowConsumerError) and bus:
                consumer = _consumer_of(exc.reply)
                if consumer is not None:
                    bus[0].dropped.add(consumer)
            # nats-py reports every failed reconnect attempt here (4 a second while a
            # server is down): kept out of the log but for debugging; the disconnection
            # itself is logged once below.
            log.debug("share bus: %s: %s", type(exc).__name__, exc)

        client: list[Client] = []  # the connection, once made, for the callbacks
        bus: list[NatsBus] = []  # and the bus

        async def on_disconnected() -> None:
            if not (client and client[0].is_closed):  # not our own close()
                log.warning("share bus: disconnected from NATS; reconnecting")

        async def on_reconnected() -> None:
            log.warning("share bus: reconnected to NATS")

        async def connect() -> Client:
            return await nats.connect(
                servers=servers,
                connect_timeout=min(2.0, connect_timeout_s),
                allow_reconnect=True,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.25,
                error_cb=on_error,
                disconnected_cb=on_disconnected,
                reconnected_cb=on_reconnected,
                name="poolstats",
            )

        try:
            nc = await asyncio.wait_for(connect(), connect_timeout_s)
            client.append(nc)
        except _ANY as exc:
            raise BusUnavailable(f"no NATS server answered at {servers}: {exc}") from exc
        made = cls(
            nc,
            partitions=partitions,
            stream=stream,
            prefix=prefix,
            publish_timeout_s=publish_timeout_s,
            ack_wait_s=ack_wait_s,
        )
        bus.append(made)
        try:
            await made.ensure_stream(replicas, retention_s, dedupe_window_s, max_bytes)
        except BaseException:
            await nc.close()
            raise
        return made

    def stream_config(
        self, replicas: int, retention_s: float, dedupe_window_s: float, max_bytes: int
    ) -> StreamConfig:
        return StreamConfig(
            name=self.stream,
            subjects=[subjects_of(self.prefix)],
            storage=StorageType.FILE,
            num_replicas=replicas,
            max_age=float(retention_s),
            duplicate_window=float(dedupe_window_s),
            max_bytes=max_bytes if max_bytes > 0 else -1,
        )

    async def ensure_stream(
        self, replicas: int, retention_s: float, dedupe_window_s: float, max_bytes: int
    ) -> None:
        """Create the stream, or update the settings JetStream lets change (replicas, age,
        dedupe window, size); a stream made by hand with other subjects is made to match."""
        wanted = self.stream_config(replicas, retention_s, dedupe_window_s, max_bytes)
        try:
            info = await _guard("stream info", lambda: self.js.stream_info(self.stream))
        except BusError as exc:
            if not isinstance(exc.__cause__, nats.js.errors.NotFoundError):
                raise
            await _guard("add stream", lambda: self.js.add_stream(wanted))
            return
        have = info.config
        same = (
            have.subjects == wanted.subjects
            and have.num_replicas == wanted.num_replicas
            and have.max_age == wanted.max_age
            and have.duplicate_window == wanted.duplicate_window
            and (have.max_bytes or -1) == wanted.max_bytes
        )
        if not same:
            log.info("share bus: updating stream %s to %s", self.stream, wanted)
            update = have.evolve(
                subjects=wanted.subjects,
                num_replicas=wanted.num_replicas,
                max_age=wanted.max_age,
                duplicate_window=wanted.duplicate_window,
                max_bytes=wanted.max_bytes,
            )
            await _guard("update stream", lambda: self.js.update_stream(update))

    @property
    def connected(self) -> bool:
        return bool(self.nc.is_connected)

    @property
    def max_payload(self) -> int:
        """What the server we are connected to accepts (its ``max_payload``, 1 MiB unless
        configured), less 1 KiB for the headers."""
        return int(self.nc.max_payload) - 1024

    async def publish(self, partition: int, payload: bytes, msg_id: str) -> Published:
        self.check_partition(partition)
        if len(payload) > self.max_payload:
            raise ValueError(f"payload of {len(payload)} bytes is over {self.max_payload}")
        subject = subject_of(partition, self.prefix)

        async def send() -> Any:
            return await self.js.publish(
                subject,
                payload,
                timeout=self.publish_timeout_s,
                stream=self.stream,
                headers={MSG_ID: msg_id},
            )

        ack = await _guard(f"publish to {subject}", send)
        return Published(int(ack.seq), bool(ack.duplicate))

    async def consume(self, partition: int, after_seq: int) -> Subscription:
        self.check_partition(partition)
        if after_seq < 0:
            raise ValueError("after_seq is not negative")
        sub = NatsSubscription(self, partition, after_seq)
        await sub.restart()
        return sub

    async def follow(self, partition: int, after_seq: int) -> Subscription:
        self.check_partition(partition)
        if after_seq < 0:
            raise ValueError("after_seq is not negative")
        sub = NatsSubscription(self, partition, after_seq, follower=True)
        await sub.restart()
        return sub

    async def last_seq(self) -> int:
        info = await _guard("stream info", lambda: self.js.stream_info(self.stream))
        return int(info.state.last_seq or 0)

    async def close(self) -> None:
        if not self.nc.is_closed:
            # Closing flushes what is buffered; with the server gone that fails, and there
            # is nothing left to do about it.
            with contextlib.suppress(*_ANY):
                await self.nc.close()


def _consumer_of(reply: str | None) -> tuple[str, str] | None:
    """(stream, consumer) of a JetStream delivery's reply subject: ``$JS.ACK.<stream>.
    <consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>``, or with a domain
    and an account hash after ``ACK`` (12 tokens or more); None for anything else."""
    tokens = (reply or "").split(".")
    if tokens[:2] != ["$JS", "ACK"]:
        return None
    if len(tokens) == 9:
        return tokens[2], tokens[3]
    if len(tokens) >= 12:
        return tokens[4], tokens[5]
    return None


class NatsSubscription(Subscription):
    """Partition ``partition``'s durable pull consumer ``aggregate-<partition>``.

    Its acknowledgements cover every batch up to the one acknowledged (policy "all"), so a
    batch must never be handed out after one that did not arrive: the client drops deliveries
    when a subscription holds too much (nats-py's slow consumer), and a cut connection loses
    what was in flight. The consumer numbers its deliveries; a gap in them, or a drop the
    client reports, re-creates the consumer after what was acknowledged, and batches handed
    out already are skipped when they come again."""

    def __init__(
        self, bus: NatsBus, partition: int, after_seq: int, follower: bool = False
    ) -> None:
        self.bus = bus
        self.partition = partition
        # A follower has a consumer of its own that acknowledges nothing (so it never fills
        # max_ack_pending) and that the server drops once the follower is gone a while.
        self.follower = follower
        self.durable = (
            f"follow-{partition}-{secrets.token_hex(4)}" if follower else f"aggregate-{partition}"
        )
        self.subject = subject_of(partition, bus.prefix)
        self.delivered_through = after_seq  # the last sequence handed to the caller
        self.acked_through = after_seq  # the last sequence the server confirmed acknowledged
        self.ack_wanted = after_seq  # the last sequence the caller acknowledged
        self.replies: OrderedDict[int, str] = OrderedDict()  # seq -> ack subject, current consumer
        self.pull: JetStreamContext.PullSubscription | None = None
        self.delivery = 0  # the consumer's delivery sequence of the last message taken
        self.reconnects = -1
        self.broken = False

    async def restart(self) -> None:
        """(Re-)create the consumer to start after ``acked_through`` and bind to it."""
        js, stream = self.bus.js, self.bus.stream
        self.broken = True  # until it is done: a failure here is retried by the next fetch
        if self.pull is not None:
            with contextlib.suppress(nats.errors.Error):  # gone with an old connection
                await self.pull.unsubscribe()
            self.pull = None
        self.replies.clear()
        self.delivery = 0  # a new consumer numbers its deliveries from 1
        self.bus.dropped.discard((self.bus.stream, self.durable))  # an older one's
        self.reconnects = int(self.bus.nc.stats["reconnects"])
        try:
            await js.delete_consumer(stream, self.durable)
        except nats.js.errors.NotFoundError:
            pass
        except _UNAVAILABLE as exc:
            raise BusUnavailable(f"delete consumer {self.durable}: {exc}") from exc
        start = (self.delivered_through if self.follower else self.acked_through) + 1
        config = ConsumerConfig(
            durable_name=self.durable,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=start,
            ack_policy=AckPolicy.NONE if self.follower else AckPolicy.ALL,
            inactive_threshold=FOLLOWER_IDLE_S if self.follower else None,
            ack_wait=self.bus.ack_wait_s,
            filter_subject=self.subject,
            max_ack_pending=MAX_ACK_PENDING,
        )
        await _guard(f"add consumer {self.durable}", lambda: js.add_consumer(stream, config))
        self.pull = await _guard(
            f"bind consumer {self.durable}",
            lambda: js.pull_subscribe_bind(
                durable=self.durable,
                stream=stream,
                pending_bytes_limit=PENDING_BYTES_LIMIT,
            ),
        )
        self.broken = False

    async def fetch(self, max_msgs: int, timeout_s: float) -> list[Delivery]:
        if self.broken or self.reconnects != self.bus.nc.stats["reconnects"]:
            await self.restart()
        assert self.pull is not None
        try:
            msgs = await self.pull.fetch(max_msgs, timeout=max(timeout_s, MIN_FETCH_S))
        except TimeoutError:
            if self.bus.nc.is_connected:
                return []
            self.broken = True
            raise BusUnavailable("fetch: not connected to NATS") from None
        except _ANY as exc:
            self.broken = True
            raise BusUnavailable(f"fetch from {self.durable}: {exc}") from exc
        out = []
        for msg in msgs:
            delivery = int(msg.metadata.sequence.consumer)
            if delivery != self.delivery + 1:
                # A delivery never reached us (the client dropped it as a slow consumer, or
                # the connection was cut mid-pull). Nothing after it may be handed out: its
                # acknowledgement ("all") would cover the lost one. The consumer starts again
                # after what was handed out, and the next fetch brings the lost one.
                log.warning("%s: delivery %d came after %d; reading again from %d",
                            self.durable, delivery, self.delivery,
                            self.delivered_through + 1)  # fmt: skip
                self.broken = True
                break
            self.delivery = delivery
            seq = int(msg.metadata.sequence.stream)
            if msg.reply and not self.follower:
                self.replies[seq] = msg.reply
            if seq <= self.delivered_through:
                continue  # handed out before (a redelivery, or a re-created consumer)
            self.delivered_through = seq
            msg_id = (msg.headers or {}).get(MSG_ID, "")
            out.append(Delivery(seq, self.partition, msg_id, msg.data))
        if self._lost_some():
            # The last of a pull dropped leaves no gap to see: the server counts it delivered
            # and offers it again only after ack_wait. Start again now instead.
            log.warning("%s: deliveries dropped; reading again from %d",
                        self.durable, self.delivered_through + 1)  # fmt: skip
            self.broken = True
        # Acknowledgements the caller asked for that waited for a redelivery (after a
        # re-created consumer). A failure here must not lose the batches just taken: they
        # are handed out, and the acknowledgement is tried again on the next call.
        with contextlib.suppress(BusError):
            await self._send_ack()
        return out

    def _lost_some(self) -> bool:
        """Whether the client dropped a delivery of this consumer (and forget it)."""
        key = (self.bus.stream, self.durable)
        lost = key in self.bus.dropped
        self.bus.dropped.discard(key)
        return lost

    async def _send_ack(self) -> None:
        """Acknowledge (confirmed) the newest batch of the current consumer that is at or
        below what the caller acknowledged; with policy "all" it covers those before it."""
        best = None
        for seq in self.replies:
            if seq > self.ack_wanted:
                break
            best = seq
        if best is None or best <= self.acked_through:
            return
        reply = self.replies[best]
        await _guard(
            f"ack {self.durable}", lambda: self.bus.nc.request(reply, b"+ACK", API_TIMEOUT_S)
        )
        self.acked_through = best
        for seq in [s for s in self.replies if s <= best]:
            del self.replies[seq]

    async def ack_through(self, seq: int) -> None:
        if self.follower:
            return
        self.ack_wanted = max(self.ack_wanted, min(seq, self.delivered_through))
        await self._send_ack()

    async def lag(self) -> int:
        info = await _guard(
            f"consumer info {self.durable}",
            lambda: self.bus.js.consumer_info(self.bus.stream, self.durable),
        )
        return int(info.num_pending or 0) + int(info.num_ack_pending or 0)

    async def close(self) -> None:
        if self.pull is not None:
            with contextlib.suppress(nats.errors.Error):
                await self.pull.unsubscribe()
            self.pull = None
        if self.follower:  # its consumer is of no use to anyone else
            with contextlib.suppress(*_ANY):
                await self.bus.js.delete_consumer(self.bus.stream, self.durable)
