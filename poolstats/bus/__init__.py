"""The share bus: share batches from gateways to the aggregators of their partitions.

``open_bus(settings.bus_url, settings)`` picks the backend: an empty ``bus_url`` is the
in-process bus (one node), ``nats://...`` the NATS JetStream stream of a cluster. See
``poolstats.bus.base`` for the contract and docs/cluster.md for the operator's side.
"""

from __future__ import annotations

from poolstats.bus.base import (
    Bus,
    BusError,
    BusUnavailable,
    Delivery,
    Published,
    Subscription,
)
from poolstats.bus.memory import MemoryBus
from poolstats.config import Settings

__all__ = [
    "Bus",
    "BusError",
    "BusUnavailable",
    "Delivery",
    "MemoryBus",
    "Published",
    "Subscription",
    "is_nats_url",
    "open_bus",
]


def is_nats_url(bus_url: str) -> bool:
    """Whether ``bus_url`` names NATS servers (``nats://`` or ``tls://``, commas between)."""
    servers = [s.strip() for s in bus_url.split(",") if s.strip()]
    return bool(servers) and all(s.startswith(("nats://", "tls://")) for s in servers)


async def open_bus(bus_url: str, settings: Settings | None = None, **options: object) -> Bus:
    """The bus ``bus_url`` names, set up from ``settings`` (partitions, replicas, retention,
    dedupe window, timeouts). ``options`` go to the backend as they are (tests: a stream
    name and subject prefix of their own). ``BusUnavailable`` when NATS does not answer;
    ``ValueError`` for a URL of an unknown kind."""
    settings = settings or Settings()
    url = bus_url.strip()
    if not url:
        return MemoryBus(
            partitions=settings.partitions, dedupe_window_s=settings.bus_dedupe_window_s
        )
    if is_nats_url(url):
        from poolstats.bus.nats import NatsBus  # nats-py only where a cluster uses it

        return await NatsBus.connect(
            url,
            partitions=settings.partitions,
            replicas=settings.bus_replicas,
            retention_s=settings.bus_retention_s,
            dedupe_window_s=settings.bus_dedupe_window_s,
            max_bytes=settings.bus_max_bytes,
            publish_timeout_s=settings.bus_publish_timeout_s,
            ack_wait_s=settings.bus_ack_wait_s,
            **options,  # type: ignore[arg-type]
        )
    raise ValueError(f"bus_url must be empty or nats://host:port[,...], not {url!r}")
