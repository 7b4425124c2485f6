"""The share contract's validation rules (``check``) on hand-built columns.

Every refusal must start with the name of the field at fault, and one bad row must never
spoil the others.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import pytest

from poolstats.domain.share import (
    DIFF_QUANTUM,
    MAX_DIFF,
    MAX_NAME,
    MAX_PUID,
    MAX_USER,
    MIN_TS,
    NO_STATUS,
    Refusals,
    ShareColumns,
    Status,
    check,
    quantize_diff,
    split_login_entry,
)

NOW = 1_700_000_000.0
FUTURE_S = 300.0


@dataclass
class Row:
    ts: float = NOW - 10
    diff: float = 65536.0
    status: int = Status.ACCEPT
    puid: int = 1  # as the decoders give it: 0 none, -1 out of range
    user: str | None = None
    worker: str | None = "rig01"
    ip: str | None = None


def columns(rows: list[Row], first_line: int = 1) -> ShareColumns:
    """Columns as a decoder builds them: workers and ips dictionary-encoded."""
    table: dict[tuple[int, str | None, str | None], int] = {}
    ips: dict[str, int] = {}
    worker_idx = [table.setdefault((r.puid, r.user, r.worker), len(table)) for r in rows]
    ip_idx = [-1 if r.ip is None else ips.setdefault(r.ip, len(ips)) for r in rows]
    return ShareColumns(
        line=np.arange(first_line, first_line + len(rows), dtype=np.int64),
        ts=np.array([r.ts for r in rows], dtype=np.float64),
        diff=np.array([r.diff for r in rows], dtype=np.float64),
        status=np.array([r.status for r in rows], dtype=np.uint8),
        worker_idx=np.array(worker_idx, dtype=np.int64),
        ip_idx=np.array(ip_idx, dtype=np.int64),
        ips=list(ips),
        w_puid=np.array([p for p, _, _ in table], dtype=np.int64),
        w_user=[u for _, u, _ in table],
        w_name=[w for _, _, w in table],
    )


def judge(bad: Row) -> tuple[list[bool], dict[int, str]]:
    """``bad`` between two good rows: the good mask and the refusals by line."""
    cols = columns([Row(), bad, Row(worker="rig02", diff=1.0)])
    good, refusals = check(cols, NOW, FUTURE_S)
    return good.tolist(), {r.line: r.error for r in refusals.listed(cols.line)}


def assert_refused(bad: Row, field: str, text: str = "") -> str:
    good, errors = judge(bad)
    assert good == [True, False, True]
    assert list(errors) == [2]
    assert errors[2].startswith(f"{field}: "), errors[2]
    assert text in errors[2]
    return errors[2]


def assert_accepted(row: Row) -> None:
    good, errors = judge(row)
    assert good == [True, True, True]
    assert errors == {}


def test_a_clean_batch_has_no_refusals() -> None:
    cols = columns([Row(ip="203.0.113.7"), Row(ip="2001:db8::1", status=Status.STALE),
                    Row(user="alice", puid=0, status=Status.REJECT)])  # fmt: skip
    good, refusals = check(cols, NOW, FUTURE_S)
    assert good.tolist() == [True, True, True]
    assert refusals.listed(cols.line) == []


def test_an_empty_batch() -> None:
    cols = columns([])
    good, refusals = check(cols, NOW, FUTURE_S)
    assert len(good) == 0
    assert refusals.listed(cols.line) == []


# -- ts ---------------------------------------------------------------------------------------


def test_missing_ts() -> None:
    assert_refused(Row(ts=float("nan")), "ts", "required")


@pytest.mark.parametrize("ts", [float("inf"), float("-inf"), MIN_TS - 1, 1.0, 0.0, -5.0])
def test_ts_before_2009_or_not_finite(ts: float) -> None:
    assert_refused(Row(ts=ts), "ts", "after 2009-01-03")


def test_ts_at_the_genesis_block_is_accepted() -> None:
    assert_accepted(Row(ts=MIN_TS))


@pytest.mark.parametrize("ahead", [299.0, 300.0, 0.0, -86400.0])
def test_ts_up_to_future_s_ahead_is_accepted(ahead: float) -> None:
    assert_accepted(Row(ts=NOW + ahead))


@pytest.mark.parametrize("ahead", [300.5, 301.0, 1e6])
def test_ts_more_than_future_s_ahead_is_refused(ahead: float) -> None:
    assert_refused(Row(ts=NOW + ahead), "ts", "more than 300 s in the future")


def test_future_s_is_the_setting_given() -> None:
    cols = columns([Row(ts=NOW + 61)])
    assert check(cols, NOW, 60.0)[0].tolist() == [False]
    assert check(cols, NOW, 61.0)[0].tolist() == [True]


def test_milliseconds_are_refused_as_future() -> None:
    assert_refused(Row(ts=NOW * 1000), "ts", "in the future")


# -- diff -------------------------------------------------------------------------------------


def test_missing_diff() -> None:
    assert_refused(Row(diff=float("nan")), "diff", "required")


@pytest.mark.parametrize("diff", [0.0, -0.0, -1.0, -65536.0, float("inf"), float("-inf")])
def test_diff_not_a_finite_positive_number(diff: float) -> None:
    assert_refused(Row(diff=diff), "diff", "finite number > 0")


@pytest.mark.parametrize(
    "diff", [2.0**-21, 0.5 * DIFF_QUANTUM, 0.75 * DIFF_QUANTUM, 0.999 * DIFF_QUANTUM, 1e-300]
)
def test_diff_below_the_quantum_is_refused_not_rounded_up(diff: float) -> None:
    # 0.75 quantum used to round to one quantum and count as 2**-20 (+33 %)
    assert_refused(Row(diff=diff), "diff", "below the smallest difficulty")


@pytest.mark.parametrize("diff", [DIFF_QUANTUM, 1.5 * DIFF_QUANTUM, 1.0, 2.0**47, MAX_DIFF])
def test_diff_in_range_is_accepted(diff: float) -> None:
    assert_accepted(Row(diff=diff))


@pytest.mark.parametrize("diff", [MAX_DIFF * 2, 1e39, 1e300, np.finfo(np.float64).max])
def test_diff_too_large_for_the_engine_is_refused(diff: float) -> None:
    # the engine's per-worker windows are float32: 1e39 and up would become inf there
    assert_refused(Row(diff=diff), "diff", "above the largest difficulty")


def test_max_diff_sums_stay_finite_in_float32() -> None:
    per_slot = np.float32(MAX_DIFF) * np.float32(2.0**60)  # 2**60 such shares in one slot
    assert np.isfinite(per_slot)


# -- status -----------------------------------------------------------------------------------


def test_missing_status() -> None:
    assert_refused(Row(status=NO_STATUS), "accepted", "required")


@pytest.mark.parametrize("status", [3, 100, 254])
def test_unknown_status(status: int) -> None:
    assert_refused(Row(status=status), "status", "accept, reject or stale")


@pytest.mark.parametrize("status", list(Status))
def test_every_known_status_is_accepted(status: Status) -> None:
    assert_accepted(Row(status=status))


# -- the worker table -------------------------------------------------------------------------


def test_missing_worker() -> None:
    assert_refused(Row(worker=None), "worker", "required")


def test_worker_name_length_limit() -> None:
    assert_accepted(Row(worker="w" * MAX_NAME))
    assert_refused(Row(worker="w" * (MAX_NAME + 1)), "worker", f"longer than {MAX_NAME}")


def test_login_length_counts_the_user_part() -> None:
    login = "alice." + "w" * (MAX_NAME - 5)
    assert len(login) == MAX_NAME + 1
    assert_refused(Row(puid=0, worker=login), "worker", "longer than")


def test_puid_out_of_range() -> None:
    # the decoders turn a puid outside 1..MAX_PUID into -1
    assert_refused(Row(puid=-1), "puid", f"from 1 to {MAX_PUID}")


def test_user_length_limit() -> None:
    assert_accepted(Row(puid=0, user="u" * MAX_USER))
    assert_refused(Row(puid=0, user="u" * (MAX_USER + 1)), "user", f"longer than {MAX_USER}")


def test_no_owner_at_all() -> None:
    assert_refused(Row(puid=0, user=None, worker="rig01"), "puid", "required")


@pytest.mark.parametrize(
    "row",
    [Row(puid=0, worker="alice.rig01"), Row(puid=0, user="alice"), Row(puid=7, user="alice")],
)
def test_owner_from_a_login_or_a_user_name(row: Row) -> None:
    assert_accepted(row)


def test_one_bad_worker_refuses_all_its_rows_and_only_them() -> None:
    long = "x" * (MAX_NAME + 1)
    cols = columns([Row(), Row(worker=long), Row(worker="rig02"), Row(worker=long, diff=2.0)])
    good, refusals = check(cols, NOW, FUTURE_S)
    assert good.tolist() == [True, False, True, False]
    assert [r.line for r in refusals.listed(cols.line)] == [2, 4]


# -- ip ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("ip", ["203.0.113.7", "2001:db8::7", "::1", "::ffff:192.0.2.1"])
def test_good_ip(ip: str) -> None:
    assert_accepted(Row(ip=ip))


@pytest.mark.parametrize("ip", ["999.0.0.1", "203.0.113", "rig01", "", "1.2.3.4:3333", " 1.2.3.4"])
def test_bad_ip(ip: str) -> None:
    assert_refused(Row(ip=ip), "ip", "not an IPv4 or IPv6 address")


# -- how refusals are reported ----------------------------------------------------------------


def test_the_first_bad_field_names_the_row() -> None:
    cols = columns([Row(ts=float("nan"), diff=-1, status=NO_STATUS, ip="nope")])
    _, refusals = check(cols, NOW, FUTURE_S)
    (only,) = refusals.listed(cols.line)
    assert only.error.startswith("ts: ")


def test_refusals_carry_the_request_line_numbers() -> None:
    cols = columns([Row(), Row(diff=0), Row(), Row(ts=NOW + 400)], first_line=10)
    good, refusals = check(cols, NOW, FUTURE_S)
    listed = refusals.listed(cols.line)
    assert [(r.line, r.error.split(":")[0]) for r in listed] == [(11, "diff"), (13, "ts")]
    assert good.tolist() == [True, False, True, False]


def test_refusals_keep_the_first_message_per_row() -> None:
    refusals = Refusals(4)
    refusals.add(np.array([False, True, False, True]), "a: first")
    refusals.add(np.array([True, True, False, False]), "b: second")
    refusals.add_each(np.array([False, False, True, True]), ["", "", "d: fourth", "c: third"])
    lines = np.array([5, 6, 7, 8], dtype=np.int64)
    assert [(r.line, r.error) for r in refusals.listed(lines)] == [
        (5, "b: second"), (6, "a: first"), (7, "d: fourth"), (8, "a: first"),
    ]  # fmt: skip
    assert refusals.bad.tolist() == [True, True, True, True]


def test_take_keeps_the_tables() -> None:
    cols = columns([Row(ip="192.0.2.1"), Row(worker="rig02"), Row(diff=3.0)])
    part = cols.take(np.array([False, True, True]))
    assert len(part) == 2
    assert part.line.tolist() == [2, 3]
    assert part.diff.tolist() == [65536.0, 3.0]
    assert part.ips is cols.ips and part.w_name is cols.w_name
    assert [part.w_name[i] for i in part.worker_idx.tolist()] == ["rig02", "rig01"]


# -- logins and difficulties ------------------------------------------------------------------


def test_split_login_entry() -> None:
    w_puid = np.array([0, 0, 5, 0, 0, 0, 0], dtype=np.int64)
    w_user = [None, None, None, "bob", None, None, None]
    w_name: list[str | None] = ["alice.rig01", "rig02", "alice.rig03", "alice.rig04",
                                "alice.rack.7", "alice.", None]  # fmt: skip
    split = [
        split_login_entry(p, u, n or "")
        for p, u, n in zip(w_puid.tolist(), w_user, w_name, strict=True)
    ]
    users = [u for u, _ in split]
    names = [n for _, n in split]
    # an explicit puid or user wins over the login's user part, which is dropped all the same
    assert users == ["alice", None, None, "bob", "alice", "alice", None]
    assert names == ["rig01", "rig02", "rig03", "rig04", "rack.7", "", ""]


def test_quantized_diffs_are_multiples_of_the_quantum() -> None:
    diff = np.array([1.0, 65536.0, 0.1, 1e-6, 3.3333333, DIFF_QUANTUM * 1.4999])
    q = quantize_diff(diff)
    steps = q / DIFF_QUANTUM
    assert np.array_equal(steps, np.round(steps))
    assert np.all(np.abs(q - diff) <= DIFF_QUANTUM / 2)
    assert q[0] == 1.0 and q[1] == 65536.0  # powers of two and integers are kept


def test_quantized_sums_do_not_depend_on_order() -> None:
    rng = random.Random(7)
    diffs = [rng.choice([1.0, 0.1, 1 / 3, 1024.7, 65536.0, 1e-5, 7777.77]) for _ in range(20_000)]
    q = quantize_diff(np.array(diffs)).tolist()
    total = sum(q)
    assert total < 2.0**33
    for _ in range(5):
        rng.shuffle(q)
        assert sum(q) == total
        assert float(np.sum(np.array(q))) == total
    assert float(np.sum(np.array(diffs[::-1]))) != float(np.sum(np.array(diffs)))  # raw: not so
