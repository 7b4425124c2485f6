"""A judged batch cut per partition: each partition gets exactly its sub-accounts' accepted
shares, and counting every partition's record gives what counting the batch whole gives."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from poolstats.engine.engine import Engine
from poolstats.ingest.columnar import decode_columnar
from poolstats.ingest.partitioned import split_by_partition
from poolstats.ingest.pipeline import Format, Ingestor, unpack_record
from poolstats.service import Registry
from poolstats.store.sqlite import SqliteStore

NOW = 1_800_000_000.0


def part_of(puid: int) -> int:
    return puid % 2


def test_each_partition_gets_its_own_accepted_shares_and_they_count_as_the_whole(
    tmp_path: Path,
) -> None:
    with SqliteStore.open(tmp_path) as store:
        puids = {name: store.create_user(name, int(NOW)).puid for name in ("ann", "bo", "cy")}
        events = [
            {"ts": NOW - 5, "user": "ann", "worker": "r1", "diff": 8.0, "accepted": True,
             "ip": "198.51.100.1"},
            {"ts": NOW - 4, "puid": puids["bo"], "worker": "r2", "diff": 16.0, "accepted": True},
            {"ts": NOW - 3, "worker": "cy.r3", "diff": 32.0, "accepted": False,
             "ip": "198.51.100.2"},
            {"ts": NOW - 2, "user": "nobody", "worker": "r4", "diff": 64.0, "accepted": True},
            {"ts": NOW - 1, "user": "ann", "worker": "r1", "diff": 128.0, "status": "stale",
             "ip": "198.51.100.1"},
        ]  # fmt: skip
        body = b"".join(json.dumps(e).encode() + b"\n" for e in events)
        registry = Registry(store)
        whole = Engine()
        gateway = Ingestor(Engine(), None, registry, lambda: NOW)  # type: ignore[arg-type]
        cols, refused = gateway.decode(body, Format.NDJSON, resolve=False)
        good, _, owners = gateway.judge(cols, NOW)
        assert not refused and good.tolist() == [True, True, True, False, True]

        records = split_by_partition(cols, good, owners, part_of, NOW, 1 << 20)

        expected: dict[int, list[tuple[int, str, float, int, str]]] = {}  # part -> shares
        status = {True: 0, False: 1, "stale": 2}
        for e, ok in zip(events, good.tolist(), strict=True):
            if not ok:
                continue
            user = e.get("user") or (str(e["worker"]).split(".")[0] if "." in str(e["worker"])
                                     else None)  # fmt: skip
            puid = int(e["puid"]) if "puid" in e else puids[str(user)]
            name = str(e["worker"]).split(".")[-1]
            code = status[e["status"]] if "status" in e else status[bool(e["accepted"])]
            expected.setdefault(part_of(puid), []).append(
                (puid, name, float(e["diff"]), code, str(e.get("ip", "")))
            )
        assert sorted(records) == sorted(expected)  # partitions 0 (bo) and 1 (ann, cy)
        sharded = Engine()
        counter = Ingestor(sharded, None, registry, lambda: NOW)  # type: ignore[arg-type]
        for part, (payload,) in records.items():
            record = unpack_record(payload)
            got, _ = decode_columnar(record.body)
            rows = [
                (int(got.w_puid[w]), str(got.w_name[w]), d, int(s), got.ips[i] if i >= 0 else "")
                for w, d, s, i in zip(got.worker_idx.tolist(), got.diff.tolist(),
                                      got.status.tolist(), got.ip_idx.tolist(), strict=True)
            ]  # fmt: skip
            assert rows == expected[part]
            assert record.now == NOW
            counter.replay(payload, Format.COLUMNAR, seq=part + 1, history=True)
        whole_counter = Ingestor(whole, None, registry, lambda: NOW)  # type: ignore[arg-type]
        whole_counter.apply(cols.take(good), owners, NOW, 1, True)
        for name in ("ann", "bo", "cy"):
            a, b = whole.subaccount_sums(puids[name]), sharded.subaccount_sums(puids[name])
            assert {k: v.tolist() for k, v in vars(a).items()} == {
                k: v.tolist() for k, v in vars(b).items()
            }
        ann = sharded.subaccount_sums(puids["ann"])
        assert ann.accept_1m.tolist() == [8.0] and ann.stale_1m.tolist() == [128.0]
        assert sharded.subaccount_sums(puids["cy"]).reject_1m.tolist() == [32.0]
        assert np.isclose(sharded.pool_sums().accept_1m[0], 8.0 + 16.0)


def test_a_partition_too_big_for_one_message_goes_as_several_that_count_the_same(
    tmp_path: Path,
) -> None:
    with SqliteStore.open(tmp_path) as store:
        puid = store.create_user("ann", int(NOW)).puid
        events = [
            {"ts": NOW - 1, "puid": puid, "worker": f"rig{i % 300}", "diff": float(i + 1),
             "accepted": True, "ip": f"198.51.100.{i % 200}"}
            for i in range(5000)
        ]  # fmt: skip
        body = b"".join(json.dumps(e).encode() + b"\n" for e in events)
        registry = Registry(store)
        gateway = Ingestor(Engine(), None, registry, lambda: NOW)  # type: ignore[arg-type]
        cols, _ = gateway.decode(body, Format.NDJSON, resolve=False)
        good, _, owners = gateway.judge(cols, NOW)
        (whole,) = split_by_partition(cols, good, owners, part_of, NOW, 1 << 20)[puid % 2]
        limit = len(whole) // 3
        chunks = split_by_partition(cols, good, owners, part_of, NOW, limit)[puid % 2]
        assert len(chunks) >= 3 and all(len(c) <= limit for c in chunks)
        engine = Engine()
        counter = Ingestor(engine, None, registry, lambda: NOW)  # type: ignore[arg-type]
        for seq, chunk in enumerate(chunks, 1):
            counter.replay(chunk, Format.COLUMNAR, seq, history=True)
        sums = engine.subaccount_sums(puid)
        assert sums.accept_1m.tolist() == [sum(float(e["diff"]) for e in events)]  # type: ignore[arg-type]
        assert engine.tracked_workers == 300
