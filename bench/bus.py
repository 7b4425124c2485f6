"""Throughput of the share bus on NATS JetStream: 64 KiB batches published with acknowledgement
(one at a time, and N in flight) and consumed back.

``run(url)`` uses a stream and subject prefix of its own on the server at ``url`` (default:
``$POOLSTATS_BENCH_NATS`` or nats://127.0.0.1:4222), deleted afterwards, so it never mixes
with a real stream. A publish counts once JetStream's PubAck arrived (the batch is stored in
the stream's file storage). MB are 10**6 bytes. Standalone: ``python -m bench.bus``.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
import uuid
from typing import Any

from poolstats.bus.nats import NatsBus

KiB = 2**10
DEFAULT_URL = os.environ.get("POOLSTATS_BENCH_NATS", "nats://127.0.0.1:4222")


def _summary(count: int, size: int, elapsed: float, latencies: list[float]) -> dict[str, Any]:
    ordered = sorted(latencies) or [0.0]
    return {
        "batches": count,
        "batch_bytes": size,
        "seconds": round(elapsed, 3),
        "batches_per_s": round(count / elapsed, 1),
        "mb_per_s": round(count * size / elapsed / 1e6, 1),
        "latency_ms_p50": round(statistics.median(ordered) * 1e3, 2),
        "latency_ms_p99": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e3, 2),
    }


async def _publish(bus: NatsBus, payload: bytes, count: int, in_flight: int, tag: str) -> Any:
    """``count`` publishes to partition 0 with ``in_flight`` outstanding at a time."""
    latencies: list[float] = []
    next_id = iter(range(count))

    async def worker() -> None:
        for i in next_id:
            t0 = time.perf_counter()
            await bus.publish(0, payload, f"{tag}-{i}")
            latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return _summary(count, len(payload), time.perf_counter() - start, latencies)


async def _consume(bus: NatsBus, count: int, size: int, batch: int) -> dict[str, Any]:
    """Everything on partition 0 back, ``batch`` per fetch, acknowledged per fetch."""
    sub = await bus.consume(0, after_seq=0)
    got = 0
    start = time.perf_counter()
    while got < count:
        deliveries = await sub.fetch(batch, 5.0)
        if not deliveries:
            raise RuntimeError(f"only {got} of {count} batches came back")
        got += len(deliveries)
        await sub.ack_through(deliveries[-1].seq)
    elapsed = time.perf_counter() - start
    lag = await sub.lag()
    await sub.close()
    result = _summary(got, size, elapsed, [])
    for key in ("latency_ms_p50", "latency_ms_p99"):
        del result[key]
    return {**result, "fetch_batch": batch, "lag_after": lag}


async def _run(url: str, size: int, count: int, in_flight: tuple[int, ...]) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:10]
    stream, prefix = f"BENCH_{tag}", f"bench{tag}.shares"
    payload = os.urandom(size)
    results: dict[str, Any] = {}
    async with await NatsBus.connect(url, stream=stream, prefix=prefix) as bus:
        try:
            results["server_max_payload"] = int(bus.nc.max_payload)
            published = 0
            for n in (1, *in_flight):
                runs = count if n > 1 else max(1, count // 4)
                results[f"publish_in_flight_{n}"] = await _publish(
                    bus, payload, runs, n, f"{tag}-{n}"
                )
                published += runs
            results["consume"] = await _consume(bus, published, size, 256)
        finally:
            await bus.js.delete_stream(stream)
    return results


def run(
    url: str = DEFAULT_URL,
    size: int = 64 * KiB,
    count: int = 2000,
    in_flight: tuple[int, ...] = (8, 64),
) -> dict[str, Any]:
    """Publish ``count`` batches of ``size`` bytes with each ``in_flight`` (a quarter of that
    one at a time), then consume them all back; returns the figures."""
    return asyncio.run(_run(url, size, count, in_flight))


if __name__ == "__main__":
    print(json.dumps({"machine_cpus": os.cpu_count(), **run()}, indent=2))
