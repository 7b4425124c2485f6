"""NDJSON bodies -> ``ShareColumns``: fields, tables, line numbers and decode refusals."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from poolstats.domain.share import MAX_PUID, NO_STATUS, Refusal, ShareColumns, Status
from poolstats.ingest.ndjson import decode_ndjson

TS = 1_700_000_000.5


def event(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"ts": TS, "puid": 1, "worker": "rig01", "diff": 65536,
                            "accepted": True, "ip": "203.0.113.7"}  # fmt: skip
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


def body(*lines: dict[str, Any] | str, end: str = "\n") -> bytes:
    """Dicts become compact JSON lines; strings are sent as they are."""
    text = [json.dumps(x, separators=(",", ":")) if isinstance(x, dict) else x for x in lines]
    return ("\n".join(text) + end).encode()


def rows(cols: ShareColumns) -> list[tuple[int, float, float, int, int | None, str | None]]:
    """(line, ts, diff, status, puid, worker) per row, read back through the tables."""
    return [
        (line, ts, diff, status, int(cols.w_puid[w]), cols.w_name[w])
        for line, ts, diff, status, w in zip(
            cols.line.tolist(),
            cols.ts.tolist(),
            cols.diff.tolist(),
            cols.status.tolist(),
            cols.worker_idx.tolist(),
            strict=True,
        )
    ]


def errors(refused: list[Refusal]) -> dict[int, str]:
    return {r.line: r.error for r in refused}


def test_a_clean_body_decodes_every_field() -> None:
    cols, refused = decode_ndjson(body(
        event(),
        event(ts=1_700_000_001, worker="rig02", diff=1.5, accepted=False, ip="2001:db8::1"),
        event(puid=None, user="alice", worker="rig01", status="stale", accepted=None, ip=None),
        event(puid=None, worker="bob.rig9", status="reject", accepted=None),
    ))  # fmt: skip
    assert refused == []
    assert rows(cols) == [
        (1, TS, 65536.0, Status.ACCEPT, 1, "rig01"),
        (2, 1_700_000_001.0, 1.5, Status.REJECT, 1, "rig02"),
        (3, TS, 65536.0, Status.STALE, 0, "rig01"),
        (4, TS, 65536.0, Status.REJECT, 0, "bob.rig9"),
    ]
    assert [cols.w_user[w] for w in cols.worker_idx.tolist()] == [None, None, "alice", None]
    assert cols.ips == ["203.0.113.7", "2001:db8::1"]
    assert cols.ip_idx.tolist() == [0, 1, -1, 0]


def test_workers_and_ips_are_dictionary_encoded() -> None:
    events = [event(worker=f"rig{i % 3}", ip=f"192.0.2.{i % 2}") for i in range(12)]
    cols, refused = decode_ndjson(body(*events))
    assert refused == []
    assert cols.w_name == ["rig0", "rig1", "rig2"]
    assert cols.worker_idx.tolist() == [i % 3 for i in range(12)]
    assert cols.ips == ["192.0.2.0", "192.0.2.1"]
    assert cols.ip_idx.tolist() == [i % 2 for i in range(12)]


def test_the_same_worker_under_two_owners_is_two_entries() -> None:
    cols, _ = decode_ndjson(body(event(puid=1), event(puid=2), event(puid=None, user="carol")))
    assert cols.w_name == ["rig01", "rig01", "rig01"]
    assert cols.w_puid.tolist() == [1, 2, 0]
    assert cols.w_user == [None, None, "carol"]


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"accepted": True}, Status.ACCEPT),
        ({"accepted": False}, Status.REJECT),
        ({"accepted": None, "status": "accept"}, Status.ACCEPT),
        ({"accepted": None, "status": "reject"}, Status.REJECT),
        ({"accepted": None, "status": "stale"}, Status.STALE),
        ({"accepted": True, "status": "stale"}, Status.STALE),  # status wins over accepted
        ({"accepted": False, "status": "accept"}, Status.ACCEPT),
        ({"accepted": None}, NO_STATUS),
        ({"accepted": None, "status": "Accept"}, 254),
        ({"accepted": True, "status": "ok"}, 254),
    ],
)
def test_status_codes(fields: dict[str, Any], status: int) -> None:
    cols, refused = decode_ndjson(body(event(**fields)))
    assert refused == []
    assert cols.status.tolist() == [status]


@pytest.mark.parametrize(
    ("puid", "w_puid"),
    [
        (None, 0),
        (1, 1),
        (MAX_PUID, MAX_PUID),
        (0, -1),
        (-1, -1),
        (-(2**40), -1),
        (MAX_PUID + 1, -1),
        (2**63 - 1, -1),
        (10**30, -1),
    ],
)
def test_puids_out_of_range_become_minus_one(puid: int | None, w_puid: int) -> None:
    cols, refused = decode_ndjson(body(event(puid=puid)))
    assert refused == []
    assert cols.w_puid.tolist() == [w_puid]


def test_integer_and_float_times() -> None:
    cols, _ = decode_ndjson(body(event(ts=1_700_000_000), event(ts=1_700_000_000.25)))
    assert cols.ts.tolist() == [1_700_000_000.0, 1_700_000_000.25]


def test_optional_and_unknown_fields_are_ignored() -> None:
    cols, refused = decode_ndjson(body(
        event(reason="low difficulty", node="eu1", agent="bmminer/2.0", extra={"a": [1]}),
    ))  # fmt: skip
    assert refused == []
    assert rows(cols) == [(1, TS, 65536.0, Status.ACCEPT, 1, "rig01")]


def test_missing_fields_decode_as_missing() -> None:
    cols, refused = decode_ndjson(b"{}\n")
    assert refused == []
    assert np.isnan(cols.ts[0]) and np.isnan(cols.diff[0])
    assert cols.status.tolist() == [NO_STATUS]
    assert cols.w_name == [None] and cols.w_puid.tolist() == [0] and cols.w_user == [None]
    assert cols.ip_idx.tolist() == [-1]


@pytest.mark.parametrize("raw", [b"", b"\n", b"\n\n", b"  \r\n\t\n"])
def test_empty_bodies(raw: bytes) -> None:
    cols, refused = decode_ndjson(raw)
    assert len(cols) == 0 and refused == []


# -- line numbers -----------------------------------------------------------------------------


@pytest.mark.parametrize("end", ["\n", "", "\r\n"])
def test_line_numbers_without_blank_lines(end: str) -> None:
    events = [event(diff=i + 1) for i in range(5)]
    cols, refused = decode_ndjson(body(*events, end=end))
    assert refused == []
    assert cols.line.tolist() == [1, 2, 3, 4, 5]
    assert cols.diff.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_blank_lines_keep_the_numbering() -> None:
    raw = body("", event(diff=1), "", "   ", event(diff=2), "\t", event(diff=3), "", "")
    cols, refused = decode_ndjson(raw)
    assert refused == []
    assert list(zip(cols.line.tolist(), cols.diff.tolist(), strict=True)) == [
        (2, 1.0), (5, 2.0), (7, 3.0)
    ]  # fmt: skip


def test_crlf_line_ends() -> None:
    raw = b"\r\n".join(json.dumps(event(diff=d)).encode() for d in (1, 2, 3)) + b"\r\n"
    cols, refused = decode_ndjson(raw)
    assert refused == []
    assert cols.line.tolist() == [1, 2, 3] and cols.diff.tolist() == [1.0, 2.0, 3.0]


def test_pretty_separators_are_fine() -> None:
    raw = "\n".join(json.dumps(event(diff=d), indent=None) for d in (1, 2)).encode()
    assert b", " in raw
    cols, refused = decode_ndjson(raw)
    assert refused == [] and cols.line.tolist() == [1, 2]


def test_two_objects_on_one_line_plus_a_blank_line_are_numbered_right() -> None:
    # 4 objects on 4 lines by count, which used to pass for a clean body: line 1 was taken as
    # two shares, and the share on line 2 (refused later for its diff) was called line 3.
    glued = json.dumps(event(diff=1)) + " " + json.dumps(event(diff=2))
    cols, refused = decode_ndjson(body(glued, event(diff=0), "", event(diff=3)))
    assert errors(refused).keys() == {1}
    assert errors(refused)[1].startswith("event: ")
    assert list(zip(cols.line.tolist(), cols.diff.tolist(), strict=True)) == [(2, 0.0), (4, 3.0)]


def test_two_objects_on_one_line_are_refused_together() -> None:
    glued = json.dumps(event(diff=1)) + json.dumps(event(diff=2))
    cols, refused = decode_ndjson(body(event(diff=7), glued, event(diff=8)))
    assert errors(refused).keys() == {2}
    assert errors(refused)[2].startswith("event: ")
    assert list(zip(cols.line.tolist(), cols.diff.tolist(), strict=True)) == [(1, 7.0), (3, 8.0)]


def test_an_object_over_two_lines_is_refused_line_by_line() -> None:
    raw = b'{"ts": 1700000000, "puid": 1,\n"worker": "rig01", "diff": 1, "accepted": true}\n'
    raw += body(event(diff=9), event(diff=10))
    cols, refused = decode_ndjson(raw)
    assert sorted(errors(refused)) == [1, 2]
    assert all(e.startswith("event: ") for e in errors(refused).values())
    assert list(zip(cols.line.tolist(), cols.diff.tolist(), strict=True)) == [(3, 9.0), (4, 10.0)]


def test_a_bad_line_deep_in_a_big_body() -> None:
    events: list[dict[str, Any] | str] = [event(diff=i + 1, worker=f"w{i % 50}")
                                          for i in range(5000)]  # fmt: skip
    events[3141] = '{"ts": 1700000000, "diff": '
    events[4000] = event(puid="1")
    cols, refused = decode_ndjson(body(*events))
    assert errors(refused).keys() == {3142, 4001}
    assert errors(refused)[4001].startswith("puid: ")
    assert len(cols) == 4998
    expected = [i + 1 for i in range(5000) if i not in (3141, 4000)]
    assert cols.line.tolist() == expected
    assert cols.diff.tolist() == [float(x) for x in expected]


def test_the_fast_and_the_slow_path_agree() -> None:
    events = [event(diff=i + 1, worker=f"w{i % 7}", ip=f"192.0.2.{i % 3}",
                    status=["accept", "reject", "stale"][i % 3]) for i in range(100)]  # fmt: skip
    fast, _ = decode_ndjson(body(*events))
    slow, _ = decode_ndjson(b"\n" + body(*events))  # a leading blank line: the slow path
    assert slow.line.tolist() == (fast.line + 1).tolist()
    for name in ("ts", "diff", "status", "worker_idx", "ip_idx", "w_puid"):
        assert getattr(fast, name).tolist() == getattr(slow, name).tolist(), name
    assert (fast.ips, fast.w_user, fast.w_name) == (slow.ips, slow.w_user, slow.w_name)


# -- refusals while decoding ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ('{"ts": "x", "puid": 1, "worker": "a", "diff": 1, "accepted": true}', "ts"),
        ('{"ts": 1700000000, "puid": "1", "worker": "a", "diff": 1, "accepted": true}', "puid"),
        ('{"ts": 1700000000, "puid": 1.5, "worker": "a", "diff": 1, "accepted": true}', "puid"),
        ('{"ts": 1700000000, "puid": true, "worker": "a", "diff": 1, "accepted": true}', "puid"),
        ('{"ts": 1700000000, "puid": 1, "worker": 5, "diff": 1, "accepted": true}', "worker"),
        ('{"ts": 1700000000, "puid": 1, "worker": "a", "diff": "1", "accepted": true}', "diff"),
        ('{"ts": 1700000000, "puid": 1, "worker": "a", "diff": 1, "accepted": "yes"}', "accepted"),
        ('{"ts": 1700000000, "puid": 1, "worker": "a", "diff": 1, "accepted": 1}', "accepted"),
        ('{"ts": 1700000000, "puid": 1, "worker": "a", "diff": 1, "status": 0}', "status"),
        ('{"ts": 1700000000, "puid": 1, "worker": "a", "diff": 1, "ip": 7}', "ip"),
        ('{"ts": 1700000000, "user": ["a"], "worker": "a", "diff": 1, "accepted": true}', "user"),
        ('{"ts": 1e400, "puid": 1, "worker": "a", "diff": 1, "accepted": true}', "ts"),
        ('{"ts": 1700000000, "puid": 1, "worker": "a", "diff": 1e999, "accepted": true}', "diff"),
        # what Python's json.dumps writes for float("nan") and float("inf"): not JSON
        ('{"ts": 1700000000, "puid": 1, "worker": "a", "diff": NaN, "accepted": true}', "diff"),
        ('{"ts": 1700000000, "puid": 1, "worker": "a", "diff": Infinity}', "diff"),
        ('{"ts": -Infinity, "puid": 1, "worker": "a", "diff": 1, "accepted": true}', "ts"),
        ('{"ts": 17000abc, "puid": 1, "worker": "a", "diff": 1, "accepted": true}', "ts"),
    ],
)
def test_wrong_types_name_the_field(line: str, field: str) -> None:
    cols, refused = decode_ndjson(body(event(diff=1), line, event(diff=2)))
    assert errors(refused).keys() == {2}
    assert errors(refused)[2].startswith(f"{field}: "), errors(refused)[2]
    assert cols.line.tolist() == [1, 3]
    assert cols.diff.tolist() == [1.0, 2.0]


@pytest.mark.parametrize(
    "line",
    [
        '{"ts": 1700000000, "diff": ',
        "not json",
        "[1, 2]",
        "42",
        '"share"',
        "null",
        "{}}",
        '{"ts" 1}',
        '{"note": NaN, "ts": 1700000000}',
        "\x00",
    ],
)
def test_lines_that_are_not_share_objects(line: str) -> None:
    cols, refused = decode_ndjson(body(event(diff=1), event(diff=2), line))
    assert errors(refused).keys() == {3}
    assert errors(refused)[3].startswith("event: "), errors(refused)[3]
    assert cols.line.tolist() == [1, 2]


@pytest.mark.parametrize("fast", [True, False])
def test_a_name_that_is_not_utf8_is_refused_naming_the_field(fast: bool) -> None:
    # used to escape as a UnicodeDecodeError (an HTTP 500 for the whole batch)
    bad = b'{"ts": 1700000000, "puid": 1, "worker": "rig\xff\xfe", "diff": 1, "accepted": true}'
    raw = body(event(diff=1)) + bad + b"\n" + body(event(diff=2))
    cols, refused = decode_ndjson(raw if fast else b"\n" + raw)
    line = 2 if fast else 3
    assert errors(refused).keys() == {line}
    assert errors(refused)[line].startswith("worker: not valid UTF-8")
    assert cols.diff.tolist() == [1.0, 2.0]
