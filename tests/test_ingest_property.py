"""Through the real ingest path and the real store: for any share stream, the stored worker
buckets add up to the sub-account's, those to the pool's, and all of them to the input."""

from __future__ import annotations

import tempfile
from collections import defaultdict
from pathlib import Path

import msgspec
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from poolstats.clock import FakeClock
from poolstats.config import Settings
from poolstats.domain.share import quantize_diff
from poolstats.engine.snapshot import Level
from poolstats.ingest.pipeline import Format
from poolstats.service import Service

T0 = 19675 * 86400.0
USERS = ("alice", "bob", "carol")

event = st.fixed_dictionaries(
    {
        "ts": st.floats(0, 2 * 86400, allow_nan=False).map(lambda dt: T0 + dt),
        "user": st.sampled_from(USERS),
        "worker": st.sampled_from(["a", "b", "S19 #2", "bob.x", ""]),
        "diff": st.one_of(st.integers(1, 2**24), st.floats(1e-5, 1e6, allow_nan=False)),
        "status": st.sampled_from(["accept", "reject", "stale"]),
    }
)


@settings(max_examples=40, deadline=None)
@given(batches=st.lists(st.lists(event, min_size=1, max_size=40), min_size=1, max_size=5))
def test_stored_buckets_add_up_and_equal_the_input(batches: list[list[dict[str, object]]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        clock = FakeClock(T0 + 2 * 86400 + 10)
        service = Service(Settings(data_dir=Path(tmp), ingest_token="t"), clock=clock)
        service.recover()
        for name in USERS:
            service.store.create_user(name, int(T0))
        ingested = defaultdict(float)
        for i, events in enumerate(batches):
            body = b"".join(msgspec.json.encode(e) + b"\n" for e in events)
            fmt = Format.NDJSON
            assert service.ingestor.ingest(body, fmt).accepted == len(events)
            for e in events:
                ingested[e["status"]] += float(quantize_diff(np.array([float(e["diff"])]))[0])
            if i % 2:
                service.flush()
        service.flush()
        store = service.store

        def totals(level: Level, period: int, puid: int = 0) -> dict[int, list[float]]:
            out: dict[int, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
            for row in store.history(level, period, puid=puid):
                cell = out[row["start"]]
                cell[0] += row["accept"]
                cell[1] += row["reject"]
                cell[2] += row["stale"]
            return out

        puids = store.subaccounts().values()
        for period in (3600, 86400):  # workers -> sub-accounts
            for puid in puids:
                assert totals(Level.WORKER, period, puid) == totals(Level.SUBACCOUNT, period, puid)
        for period in (300, 3600, 86400):  # sub-accounts -> pool
            pooled: dict[int, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
            for puid in puids:
                for start, cell in totals(Level.SUBACCOUNT, period, puid).items():
                    for k in range(3):
                        pooled[start][k] += cell[k]
            assert pooled == totals(Level.POOL, period)
            pool = totals(Level.POOL, period).values()
            assert [sum(c[k] for c in pool) for k in range(3)] == [
                ingested["accept"],
                ingested["reject"],
                ingested["stale"],
            ]
        service.close()
