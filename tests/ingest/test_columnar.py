"""The columnar msgpack batch format: round trips, plain-array columns and structural faults."""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np
import pytest

from poolstats.domain.share import ShareColumns, Status, check
from poolstats.ingest.columnar import BatchError, decode_columnar, encode_columnar, encode_table

NOW = 1_700_000_000.0
Row = tuple[float, float, int, int, str | None, str | None, str | None]


def expand(cols: ShareColumns) -> list[Row]:
    """(ts, diff, status, puid, user, worker, ip) per share, through the tables."""
    out: list[Row] = []
    for ts, diff, status, w, i in zip(
        cols.ts.tolist(),
        cols.diff.tolist(),
        cols.status.tolist(),
        cols.worker_idx.tolist(),
        cols.ip_idx.tolist(),
        strict=True,
    ):
        ip = cols.ips[i] if i >= 0 else None
        out.append((ts, diff, status, int(cols.w_puid[w]), cols.w_user[w], cols.w_name[w], ip))
    return out


def plain(**columns: Any) -> bytes:
    """A batch whose columns are plain msgpack arrays (what a small producer writes)."""
    batch: dict[str, Any] = {
        "ts": [NOW - 1, NOW - 2],
        "diff": [1024.0, 2048.0],
        "status": [0, 1],
        "worker_idx": [0, 1],
        "worker": ["rig01", "rig02"],
        "worker_puid": [1, 1],
    }
    batch.update(columns)
    return msgspec.msgpack.encode({k: v for k, v in batch.items() if v is not None})


def batch_error(body: bytes) -> str:
    with pytest.raises(BatchError) as info:
        decode_columnar(body)
    return str(info.value)


# -- round trips ------------------------------------------------------------------------------


def test_encode_table_round_trip() -> None:
    rng = np.random.default_rng(1)
    n = 500
    ts = NOW - rng.uniform(0, 600, n)
    diff = rng.choice([1.0, 1024.0, 65536.0, 0.5], n)
    status = rng.integers(0, 3, n)
    worker_idx = rng.integers(0, 4, n)
    ip_idx = rng.integers(-1, 2, n)
    workers = ["rig01", "rig02", "S19 #1!", "alice.rig9"]
    puids = [1, 1, 2, 0]
    ips = ["203.0.113.7", "2001:db8::1"]
    body = encode_table(ts, diff, status, worker_idx, workers, worker_puid=puids,
                        ip_idx=ip_idx, ip=ips)  # fmt: skip
    cols, refused = decode_columnar(body)
    assert refused == []
    assert cols.line.tolist() == list(range(1, n + 1))
    assert cols.ts.tolist() == ts.tolist()
    assert cols.diff.tolist() == diff.tolist()
    assert cols.status.tolist() == status.tolist()
    assert cols.worker_idx.tolist() == worker_idx.tolist()
    assert cols.ip_idx.tolist() == ip_idx.tolist()
    assert cols.w_name == workers
    assert cols.w_puid.tolist() == [1, 1, 2, -1]  # 0 is no puid here: out of range
    assert cols.w_user == [None] * 4
    assert cols.ips == ips


def test_encode_columnar_round_trip_with_a_puid_per_share() -> None:
    rng = np.random.default_rng(2)
    n = 300
    names = ["rig01", "rig02", "rig03"]
    ts = NOW - rng.uniform(0, 60, n)
    diff = rng.choice([1.0, 4096.0], n)
    status = rng.integers(0, 3, n)
    widx = rng.integers(0, 3, n)
    puid = rng.choice([1, 2, 7], n)
    ip_idx = rng.integers(-1, 1, n)
    body = encode_columnar(ts, diff, status, names, widx, puid=puid, ips=["192.0.2.9"],
                           ip_idx=ip_idx)  # fmt: skip
    cols, refused = decode_columnar(body)
    assert refused == []
    expected = [
        (t, d, s, p, None, names[w], "192.0.2.9" if i == 0 else None)
        for t, d, s, p, w, i in zip(
            ts.tolist(),
            diff.tolist(),
            status.tolist(),
            puid.tolist(),
            widx.tolist(),
            ip_idx.tolist(),
            strict=True,
        )
    ]
    assert expand(cols) == expected
    # the table holds each (puid, worker) pair once
    pairs = list(zip(cols.w_puid.tolist(), cols.w_name, strict=True))
    assert len(pairs) == len(set(pairs)) == len(set(zip(puid.tolist(), widx.tolist(), strict=True)))


def test_encode_columnar_round_trip_with_user_names() -> None:
    names = ["rig01", "rig02"]
    users = ["alice", "bob"]
    ts = [NOW - 3, NOW - 2, NOW - 1, NOW]
    widx = [0, 1, 0, 0]
    uidx = [0, 0, 1, 0]
    body = encode_columnar(ts, [1.0] * 4, [0, 0, 2, 1], names, widx, users=users, user_idx=uidx)
    cols, refused = decode_columnar(body)
    assert refused == []
    assert expand(cols) == [
        (NOW - 3, 1.0, 0, 0, "alice", "rig01", None),
        (NOW - 2, 1.0, 0, 0, "alice", "rig02", None),
        (NOW - 1, 1.0, 2, 0, "bob", "rig01", None),
        (NOW, 1.0, 1, 0, "alice", "rig01", None),
    ]
    assert len(cols.w_name) == 3


def test_encode_columnar_needs_an_owner() -> None:
    with pytest.raises(ValueError, match="puid"):
        encode_columnar([NOW], [1.0], [0], ["rig01"], [0])


def test_plain_array_columns_decode_like_binary_ones() -> None:
    ts, diff, status, widx = [NOW - 1, NOW - 2, NOW - 3], [1.0, 2.0, 3.0], [0, 1, 2], [0, 1, 0]
    binary = encode_table(ts, diff, status, widx, ["a", "b"], worker_puid=[1, 2],
                          ip_idx=[0, -1, 0], ip=["192.0.2.1"])  # fmt: skip
    array = plain(ts=ts, diff=diff, status=status, worker_idx=widx, worker=["a", "b"],
                  worker_puid=[1, 2], ip_idx=[0, -1, 0], ip=["192.0.2.1"])  # fmt: skip
    mixed = msgspec.msgpack.encode({
        "ts": np.array(ts, "<f8").tobytes(), "diff": diff, "status": bytes(status),
        "worker_idx": widx, "worker": ["a", "b"], "worker_puid": np.array([1, 2], "<i8").tobytes(),
        "ip_idx": np.array([0, -1, 0], "<i4").tobytes(), "ip": ["192.0.2.1"],
    })  # fmt: skip
    decoded = [expand(decode_columnar(b)[0]) for b in (binary, array, mixed)]
    assert decoded[0] == decoded[1] == decoded[2]
    assert decoded[0] == [
        (NOW - 1, 1.0, 0, 1, None, "a", "192.0.2.1"),
        (NOW - 2, 2.0, 1, 2, None, "b", None),
        (NOW - 3, 3.0, 2, 1, None, "a", "192.0.2.1"),
    ]


def test_integer_times_in_a_plain_array() -> None:
    cols, _ = decode_columnar(plain(ts=[1_700_000_000, 1_700_000_001]))
    assert cols.ts.tolist() == [1_700_000_000.0, 1_700_000_001.0]
    assert cols.ts.dtype == np.float64


def test_worker_user_instead_of_worker_puid() -> None:
    cols, _ = decode_columnar(plain(worker_puid=None, worker_user=["alice", "bob"]))
    assert cols.w_user == ["alice", "bob"]
    assert cols.w_puid.tolist() == [0, 0]
    assert [(r[4], r[5]) for r in expand(cols)] == [("alice", "rig01"), ("bob", "rig02")]


def test_logins_as_worker_names_without_owner_columns() -> None:
    cols, _ = decode_columnar(plain(worker_puid=None, worker=["alice.rig01", "bob.rig02"]))
    assert cols.w_puid.tolist() == [0, 0] and cols.w_user == [None, None]
    good, _ = check(cols, NOW, 300)
    assert good.tolist() == [True, True]  # owners come from the logins


def test_an_empty_batch() -> None:
    cols, refused = decode_columnar(encode_table([], [], [], [], []))
    assert len(cols) == 0 and refused == []


# -- rows that decode but fail the contract ---------------------------------------------------


@pytest.mark.parametrize("status", [3, 200, 254, 255])
def test_an_unknown_status_code_is_refused_as_status(status: int) -> None:
    # 255 used to be refused as "accepted: required", a field the format does not have
    cols, _ = decode_columnar(plain(status=[0, status]))
    good, refusals = check(cols, NOW, 300)
    assert good.tolist() == [True, False]
    (refusal,) = refusals.listed(cols.line)
    assert refusal.line == 2
    assert refusal.error.startswith("status: ")


@pytest.mark.parametrize("puid", [0, -1, 2**31, 2**63 - 1])
def test_a_puid_out_of_range_refuses_its_shares(puid: int) -> None:
    cols, _ = decode_columnar(plain(worker_puid=[1, puid]))
    assert cols.w_puid.tolist() == [1, -1]
    good, refusals = check(cols, NOW, 300)
    assert good.tolist() == [True, False]
    assert refusals.listed(cols.line)[0].error.startswith("puid: ")


@pytest.mark.parametrize(
    ("field", "values"),
    [
        ("ts", [NOW, float("nan")]),
        ("ts", [NOW, float("inf")]),
        ("diff", [1.0, float("nan")]),
        ("diff", [1.0, float("inf")]),
        ("diff", [1.0, -1.0]),
    ],
)
def test_nan_and_inf_in_binary_columns_name_the_field(field: str, values: list[float]) -> None:
    columns = {"ts": [NOW, NOW], "diff": [1.0, 1.0], field: values}
    body = encode_table(columns["ts"], columns["diff"], [0, 0], [0, 1], ["a", "b"],
                        worker_puid=[1, 1])  # fmt: skip
    cols, _ = decode_columnar(body)
    good, refusals = check(cols, NOW, 300)
    assert good.tolist() == [True, False]
    assert refusals.listed(cols.line)[0].error.startswith(f"{field}: ")


# -- whole-batch faults -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("columns", "field"),
    [
        ({"diff": [1.0]}, "diff"),
        ({"status": [0, 0, 0]}, "status"),
        ({"worker_idx": [0]}, "worker_idx"),
        ({"ip_idx": [-1], "ip": []}, "ip_idx"),
        ({"worker_puid": [1]}, "worker_puid"),
        ({"worker_puid": None, "worker_user": ["alice"]}, "worker_user"),
        ({"worker_user": ["alice", "bob", "carol"]}, "worker_user"),
    ],
)
def test_length_mismatches_name_the_field(columns: dict[str, Any], field: str) -> None:
    message = batch_error(plain(**columns))
    assert message.startswith(f"{field}: "), message


def test_binary_length_mismatch_names_the_field() -> None:
    body = msgspec.msgpack.encode({
        "ts": np.array([NOW, NOW], "<f8").tobytes(), "diff": np.array([1.0], "<f8").tobytes(),
        "status": b"\x00\x00", "worker_idx": [0, 0], "worker": ["a"],
    })  # fmt: skip
    assert batch_error(body).startswith("diff: 1 values, expected 2")


@pytest.mark.parametrize(
    ("field", "raw"), [("ts", b"\x00" * 7), ("worker_idx", b"\x00" * 5), ("ip_idx", b"\x00" * 6)]
)
def test_binary_columns_of_partial_values(field: str, raw: bytes) -> None:
    body = plain(**{field: raw}, ip=["192.0.2.1"])
    assert batch_error(body).startswith(f"{field}: "), field


@pytest.mark.parametrize(
    ("columns", "field"),
    [
        ({"worker_idx": [0, 2]}, "worker_idx"),
        ({"worker_idx": [0, -2]}, "worker_idx"),
        ({"worker_idx": [0, -1]}, "worker_idx"),  # -1 is for ips only
        ({"worker_idx": [0, 2**40]}, "worker_idx"),
        ({"ip_idx": [0, 1], "ip": ["192.0.2.1"]}, "ip_idx"),
        ({"ip_idx": [-1, -3], "ip": ["192.0.2.1"]}, "ip_idx"),
        ({"ip_idx": [0, -1]}, "ip_idx"),  # no ip table at all
    ],
)
def test_indices_out_of_range_name_the_field(columns: dict[str, Any], field: str) -> None:
    message = batch_error(plain(**columns))
    assert message.startswith(f"{field}: "), message


def test_ip_idx_of_minus_one_needs_no_ip_table() -> None:
    cols, _ = decode_columnar(plain(ip_idx=[-1, -1]))
    assert cols.ip_idx.tolist() == [-1, -1] and cols.ips == []


def test_no_worker_table_for_shares() -> None:
    assert batch_error(plain(worker=[], worker_puid=[])).startswith("worker_idx: ")


@pytest.mark.parametrize(
    ("columns", "field"),
    [
        ({"status": [0, 300]}, "status"),
        ({"status": [0, -1]}, "status"),
        ({"worker_puid": [1, 2**64 - 1]}, "worker_puid"),
        ({"ts": "yesterday"}, "ts"),
        ({"diff": [1.0, "x"]}, "diff"),
        ({"worker": "rig01"}, "worker"),
        ({"worker": ["rig01", 7]}, "worker"),
        ({"worker_puid": ["1", "2"]}, "worker_puid"),
        ({"worker_idx": [0.0, 1.0]}, "worker_idx"),
        ({"ip": [1], "ip_idx": [0, 0]}, "ip"),
        ({"ts": None}, "ts"),
        ({"worker": None}, "worker"),
        ({"v": 2}, "v"),
        ({"v": "1"}, "v"),
    ],
)
def test_unreadable_columns_name_the_field(columns: dict[str, Any], field: str) -> None:
    message = batch_error(plain(**columns))
    assert message.startswith(f"{field}: "), message


@pytest.mark.parametrize(
    "body", [b"", b"garbage", msgspec.msgpack.encode([1, 2]), msgspec.msgpack.encode("batch")]
)
def test_not_a_batch_at_all(body: bytes) -> None:
    assert batch_error(body).startswith("columnar batch: ")


def test_batch_errors_are_value_errors() -> None:
    assert issubclass(BatchError, ValueError)


def test_refusals_come_from_check_not_the_decoder() -> None:
    cols, refused = decode_columnar(plain(ts=[NOW, 0.0], diff=[0.0, 1.0], status=[Status.STALE, 9]))
    assert refused == []
    _, refusals = check(cols, NOW, 300)
    assert [(r.line, r.error.split(":")[0]) for r in refusals.listed(cols.line)] == [
        (1, "diff"), (2, "ts")
    ]  # fmt: skip
