"""The gateway: a batch judged as a node judges it, each partition's shares published once."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from poolstats.bus import MemoryBus
from poolstats.cluster.gateway import Gateway
from poolstats.domain.partitions import partition_of
from poolstats.engine.engine import Engine
from poolstats.ingest.pipeline import Format, Ingestor
from poolstats.service import Registry
from poolstats.store.sqlite import SqliteStore

NOW = 1_800_000_000.0


def body_of(events: list[dict[str, object]]) -> bytes:
    return b"".join(json.dumps(e).encode() + b"\n" for e in events)


def test_a_batch_reaches_each_partition_once_even_when_retried(tmp_path: Path) -> None:
    async def scenario() -> None:
        with SqliteStore.open(tmp_path) as store:
            puids = [store.create_user(f"user{i}", int(NOW)).puid for i in range(8)]
            by_part: dict[int, list[int]] = {}
            for p in puids:
                by_part.setdefault(partition_of(p, 3), []).append(p)
            assert len(by_part) >= 2  # the batch spans partitions
            events: list[dict[str, object]] = [
                {"ts": NOW - i, "puid": puids[i % 8], "worker": f"rig{i % 5}",
                 "diff": float(2 ** (i % 7)), "accepted": True}
                for i in range(200)
            ]  # fmt: skip
            events.append({"ts": NOW, "puid": 999, "worker": "x", "diff": 1.0, "accepted": True})
            bus = MemoryBus(partitions=3)
            gateway = Gateway(bus, Registry(store), lambda: NOW, 300.0)
            body = body_of(events)
            first = await gateway.ingest(body, Format.NDJSON, key="batch-1")
            assert (first.accepted, first.refused, first.replayed) == (200, 1, False)
            assert first.errors[0].line == 201 and first.errors[0].error.startswith("puid")
            again = await gateway.ingest(body, Format.NDJSON, key="batch-1")  # answer lost
            assert (again.accepted, again.replayed) == (200, True)
            no_key = await gateway.ingest(body_of(events[:10]), Format.NDJSON)
            twice = await gateway.ingest(body_of(events[:10]), Format.NDJSON)
            assert not no_key.replayed and twice.replayed  # the body's hash is its id

            engine = Engine()
            counter = Ingestor(engine, None, Registry(store), lambda: NOW)  # type: ignore[arg-type]
            for part in range(3):
                sub = await bus.consume(part, after_seq=0)
                got = await sub.fetch(100, 0.1)
                expected_batches = (1 if by_part.get(part) else 0) + (
                    1 if {partition_of(int(e["puid"]), 3) for e in events[:10]} & {part} else 0
                )  # type: ignore[arg-type]
                assert len(got) == expected_batches
                for d in got:
                    counter.replay(d.payload, Format.COLUMNAR, d.seq, history=True)
            for p in puids:
                sent = sum(float(e["diff"]) for e in events if e["puid"] == p)  # type: ignore[arg-type]
                sent += sum(float(e["diff"]) for e in events[:10] if e["puid"] == p)  # type: ignore[arg-type]
                assert engine.subaccount_sums(p).accept_1h.tolist() == [sent]

    asyncio.run(scenario())


def test_the_gateway_answers_503_naming_the_bus_while_it_cannot_store_a_batch(
    tmp_path: Path,
) -> None:
    """A real ``poolstats gateway`` whose nats-server goes away: the batch is refused, not
    acknowledged, and /healthz says so; both come back with the server."""
    import httpx

    from tests.bus.nats_servers import NatsServer
    from tests.cluster.test_processes import new_user
    from tests.nodes import INGEST_HEADERS, TOKEN, Process, free_port, shares, wait_for
    from tests.services import fresh_database

    databases = fresh_database()
    store_url = next(databases)
    puid = new_user(store_url, tmp_path, "alice")
    server = NatsServer(tmp_path / "nats")
    server.start()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    gateway = Process(tmp_path / "gateway.log", "gateway", "--port", str(port),
                      "--data-dir", str(tmp_path / "gateway"),
                      settings={"bus_url": server.url, "store_url": store_url,
                                "ingest_token": TOKEN,
                                "bus_publish_timeout_s": 1.0})  # fmt: skip
    try:

        def answers() -> bool:
            gateway.running()
            try:
                return httpx.get(url + "/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(answers, 60, "the gateway")
        body = shares("rig", 3, time.time(), puid=puid)
        taken = httpx.post(url + "/ingest/shares", content=body, headers=INGEST_HEADERS)
        assert taken.status_code == 200 and taken.json()["accepted"] == 3
        server.stop()
        refused = httpx.post(url + "/ingest/shares", content=body, headers=INGEST_HEADERS,
                             timeout=30)  # fmt: skip
        assert refused.status_code == 503
        assert refused.json()["errors"][0]["error"].startswith("share bus:")
        assert httpx.get(url + "/healthz", timeout=5).status_code == 503
        server.start()
        wait_for(answers, 60, "the gateway's bus to come back")
    finally:
        gateway.kill()
        server.stop()
        for _ in databases:  # drops the database
            pass
