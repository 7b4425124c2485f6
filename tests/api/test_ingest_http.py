"""``POST /ingest/shares`` end to end: HTTP in, engine and store out, refusals counted.

Every expected figure is worked out here from the shares sent (difficulty sums of the good
lines), and read back from the engine, from the store after a flush, and from /metrics.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import numpy as np
import pytest

from poolstats.domain.share import DIFF_QUANTUM, MAX_NAME
from poolstats.domain.workers import normalize_worker_name, worker_id
from poolstats.engine.snapshot import Level
from poolstats.ingest.columnar import encode_columnar, encode_table

from .conftest import ALICE, BOB, COLUMNAR, MAX_BODY, NDJSON, T0, TOKEN, Node, ndjson

REFUSED = "poolstats_shares_refused_total"
ACCEPTED = "poolstats_shares_accepted_total"
REQUESTS_REFUSED = "poolstats_ingest_requests_refused_total"


def share(**fields: Any) -> dict[str, Any]:
    """A good share of alice's rig01 (fields set to None are left out)."""
    base: dict[str, Any] = {"ts": T0 - 10, "puid": ALICE, "worker": "rig01", "diff": 1024,
                            "accepted": True, "ip": "203.0.113.7"}  # fmt: skip
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


def raw_share(**values: str) -> str:
    """A share line with some values written verbatim (things json.dumps would not write)."""
    fields = {"ts": str(T0 - 10), "puid": str(ALICE), "worker": '"rig01"', "diff": "1024",
              "accepted": "true"}  # fmt: skip
    fields.update(values)
    return "{" + ", ".join(f'"{k}": {v}' for k, v in fields.items()) + "}"


# -- one bad event among good ones ------------------------------------------------------------

BAD_EVENTS: list[tuple[str, dict[str, Any] | str, str, str]] = [
    ("missing ts", share(ts=None), "ts", "required"),
    ("missing diff", share(diff=None), "diff", "required"),
    ("missing worker", share(worker=None), "worker", "required"),
    ("missing owner", share(puid=None), "puid", "required"),
    ("missing accepted", share(accepted=None), "accepted", "required"),
    ("diff zero", share(diff=0), "diff", "> 0"),
    ("diff negative", share(diff=-1024), "diff", "> 0"),
    ("diff below 2**-20", share(diff=DIFF_QUANTUM * 0.75), "diff", "smallest"),
    ("diff far below 2**-20", share(diff=2.0**-30), "diff", "smallest"),
    ("diff too large", share(diff=1e300), "diff", "largest"),
    ("diff NaN", raw_share(diff="NaN"), "diff", ""),
    ("diff Infinity", raw_share(diff="Infinity"), "diff", ""),
    ("diff overflows", raw_share(diff="1e999"), "diff", "out of range"),
    ("ts a string", share(ts="x"), "ts", "str"),
    ("ts before 2009", share(ts=1_000_000_000), "ts", "after 2009-01-03"),
    ("ts in milliseconds", share(ts=T0 * 1000), "ts", "future"),
    ("ts 301 s ahead", share(ts=T0 + 301), "ts", "more than 300 s in the future"),
    ("ts -Infinity", raw_share(ts="-Infinity"), "ts", ""),
    ("puid a string", share(puid="1"), "puid", "str"),
    ("puid zero", share(puid=0), "puid", "from 1 to 2147483647"),
    ("puid negative", share(puid=-1), "puid", "from 1 to 2147483647"),
    ("puid above 2**31-1", share(puid=2**31), "puid", "from 1 to 2147483647"),
    ("puid huge", share(puid=2**70), "puid", "from 1 to 2147483647"),
    ("puid unknown", share(puid=3), "puid", "unknown sub-account 3"),
    ("puid 2**31-1 unknown", share(puid=2**31 - 1), "puid", "unknown sub-account"),
    ("user unknown", share(puid=None, user="carol"), "user", "unknown sub-account 'carol'"),
    ("login of unknown user", share(puid=None, worker="carol.rig01"), "user", "'carol'"),
    ("user too long", share(puid=None, user="u" * 65), "user", "longer than 64"),
    ("worker too long", share(worker="w" * (MAX_NAME + 1)), "worker", "longer than 128"),
    ("ip bad", share(ip="999.1.1.1"), "ip", "not an IPv4 or IPv6 address"),
    ("ip a host name", share(ip="pool.example.com"), "ip", "not an IPv4 or IPv6 address"),
    ("status unknown", share(accepted=None, status="ok"), "status", "accept, reject or stale"),
    ("accepted a string", share(accepted="yes"), "accepted", "bool"),
    ("malformed JSON", '{"ts": 1700000000, "puid": 1, "worker": "rig01", "di', "event", ""),
    ("not an object", "[1700000000, 1, 1024]", "event", "object"),
]


@pytest.mark.parametrize(
    ("bad", "field", "text"), [case[1:] for case in BAD_EVENTS], ids=[c[0] for c in BAD_EVENTS]
)
def test_a_bad_event_is_refused_and_the_good_ones_count(
    node: Node, bad: dict[str, Any] | str, field: str, text: str
) -> None:
    good = [share(diff=1024), share(diff=3, ts=T0 - 40)]
    refused_before = node.metrics(REFUSED)
    accepted_before = node.counter(ACCEPTED, format="ndjson")

    answer = node.ingest(good[0], bad, good[1])

    assert answer["accepted"] == 2 and answer["refused"] == 1
    ((line, error),) = [(e["line"], e["error"]) for e in answer["errors"]]
    assert line == 2
    assert error.startswith(f"{field}: "), error
    assert text in error
    # the good lines count, the bad one nowhere
    total = sum(s["diff"] for s in good)
    assert node.service.engine.worker_sums(ALICE, "rig01").accept_1m.tolist() == [total]
    assert node.service.engine.tracked_workers == 1
    workers = node.stored_workers(ALICE)
    assert list(workers) == ["rig01"]
    assert workers["rig01"]["accept_1m"] == total
    assert workers["rig01"]["accept_count"] == 2
    assert node.service.store.workers(BOB) == []
    assert node.service.store.workers(3) == []
    # /metrics moved by exactly this batch
    refused_after = node.metrics(REFUSED)
    moved = {k: v - refused_before.get(k, 0.0) for k, v in refused_after.items()}
    assert {k: v for k, v in moved.items() if v} == {(("field", field),): 1.0}
    assert node.counter(ACCEPTED, format="ndjson") - accepted_before == 2


def test_blank_lines_and_several_bad_lines_keep_their_numbers(node: Node) -> None:
    answer = node.ingest(
        "",
        share(diff=1),
        "   ",
        "{not json",
        share(diff=2, ts="x"),
        "",
        share(diff=4),
        share(diff=8, puid=0),
        "\t",
        share(diff=16, ip="1.2.3"),
        share(diff=32),
    )
    assert (answer["accepted"], answer["refused"]) == (3, 4)
    assert [(e["line"], e["error"].split(":")[0]) for e in answer["errors"]] == [
        (4, "event"), (5, "ts"), (8, "puid"), (10, "ip"),
    ]  # fmt: skip
    assert node.stored_workers(ALICE)["rig01"]["accept_1m"] == 1 + 4 + 32
    assert node.counter(REFUSED, field="event") == 1
    assert node.counter(REFUSED, field="ts") == 1


def test_two_shares_glued_on_one_line_are_refused_with_the_right_line_numbers(
    node: Node,
) -> None:
    glued = msgspec.json.encode(share(diff=1)).decode() + msgspec.json.encode(share()).decode()
    answer = node.ingest(glued, "", share(diff=2), share(diff=4, puid=99))
    assert (answer["accepted"], answer["refused"]) == (1, 2)
    assert [e["line"] for e in answer["errors"]] == [1, 4]
    assert node.stored_workers(ALICE)["rig01"]["accept_1m"] == 2


def test_status_wins_when_both_accepted_and_status_are_given(node: Node) -> None:
    answer = node.ingest(
        share(diff=100, accepted=True, status="reject"),
        share(diff=200, accepted=False, status="accept"),
        share(diff=400, accepted=True, status="stale"),
        share(diff=800, accepted=False),
        share(diff=1600, accepted=None, status="stale"),
    )
    assert (answer["accepted"], answer["refused"]) == (5, 0)
    sums = node.service.engine.worker_sums(ALICE, "rig01")
    assert (sums.accept_1m[0], sums.reject_1m[0], sums.stale_1m[0]) == (200, 100 + 800, 400 + 1600)
    row = node.stored_workers(ALICE)["rig01"]
    assert (row["accept_1m"], row["reject_1m"], row["stale_1m"]) == (200, 900, 2000)
    assert (row["accept_count"], row["reject_count"]) == (1, 4)


def test_logins_split_on_the_first_dot_with_and_without_puid(node: Node) -> None:
    answer = node.ingest(
        share(puid=None, worker="alice.rig02", diff=1),  # the login names the sub-account
        share(puid=None, worker="bob.rack.7", diff=2),  # split on the first dot only
        share(puid=BOB, worker="alice.rig03", diff=4),  # an explicit puid wins
        share(puid=None, user="bob", worker="alice.rig04", diff=8),  # so does a user
        share(puid=None, user="alice", worker="rig05", diff=16),
        share(puid=None, worker="alice.", diff=32),  # no worker part: the default worker
    )
    assert (answer["accepted"], answer["refused"]) == (6, 0)
    alice = node.stored_workers(ALICE)
    bob = {w["worker_name"]: w for w in node.service.store.workers(BOB)}
    assert {k: v["accept_1m"] for k, v in alice.items()} == {
        "rig02": 1, "rig05": 16, "__default__": 32
    }  # fmt: skip
    assert {k: v["accept_1m"] for k, v in bob.items()} == {"rack.7": 2, "rig03": 4, "rig04": 8}
    assert alice["rig02"]["worker_id"] == worker_id("rig02")


def test_a_name_that_normalises_counts_as_its_normal_form(node: Node) -> None:
    assert normalize_worker_name("S19 #1!") == "S191"
    answer = node.ingest(
        share(worker="S19 #1!", diff=100),
        share(worker="S191", diff=28),
        share(worker="S19 #1!", diff=1, accepted=False),
    )
    assert answer["accepted"] == 3
    assert node.service.engine.tracked_workers == 1
    assert node.service.engine.worker_sums(ALICE, "S191").accept_1m.tolist() == [128]
    workers = node.stored_workers(ALICE)
    assert list(workers) == ["S191"]
    assert workers["S191"]["worker_id"] == worker_id("S191")
    assert (workers["S191"]["accept_1m"], workers["S191"]["reject_1m"]) == (128, 1)
    assert (workers["S191"]["accept_count"], workers["S191"]["reject_count"]) == (2, 1)


def test_the_longest_worker_name_is_accepted_and_truncated(node: Node) -> None:
    longest = "w" * MAX_NAME
    answer = node.ingest(share(worker=longest, diff=5), share(worker=longest + "w", diff=7))
    assert (answer["accepted"], answer["refused"]) == (1, 1)
    assert answer["errors"][0]["line"] == 2
    assert node.stored_workers(ALICE).keys() == {"w" * 20}


def test_future_limit_is_future_s(node: Node) -> None:
    answer = node.ingest(
        share(ts=T0 + 299, diff=1),
        share(ts=T0 + 300, diff=2),
        share(ts=T0 + 301, diff=4),
        share(ts=T0 + 300.5, diff=8),
    )
    assert (answer["accepted"], answer["refused"]) == (2, 2)
    assert [e["line"] for e in answer["errors"]] == [3, 4]
    assert all(e["error"].startswith("ts: ") for e in answer["errors"])
    # accepted future shares count as now in the windows
    assert node.stored_workers(ALICE)["rig01"]["accept_1m"] == 3


def test_future_s_setting_is_used(make_node: Callable[..., Node]) -> None:
    node = make_node(future_s=60.0)
    answer = node.ingest(share(ts=T0 + 59, diff=1), share(ts=T0 + 61, diff=2))
    assert (answer["accepted"], answer["refused"]) == (1, 1)
    assert answer["errors"][0]["error"].startswith("ts: more than 60 s")


def test_the_clock_moves_the_future_limit(node: Node) -> None:
    assert node.ingest(share(ts=T0 + 400))["refused"] == 1
    node.clock.advance(100)
    assert node.ingest(share(ts=T0 + 400))["accepted"] == 1


def test_sub_accounts_created_while_running_are_known_at_once(node: Node) -> None:
    dave = node.service.store.create_user("dave", int(T0)).puid
    erin = node.service.store.create_user("erin", int(T0)).puid
    answer = node.ingest(
        share(puid=None, user="dave", worker="r1", diff=1),
        share(puid=erin, worker="r2", diff=2),
        share(puid=None, worker="dave.r3", diff=4),
    )
    assert (answer["accepted"], answer["refused"]) == (3, 0)
    node.service.flush()
    assert {w["worker_name"] for w in node.service.store.workers(dave)} == {"r1", "r3"}
    assert {w["worker_name"] for w in node.service.store.workers(erin)} == {"r2"}


def test_only_the_first_thousand_refusals_are_listed_but_all_are_counted(node: Node) -> None:
    answer = node.ingest(*(["{}"] * 1500), share(diff=9))
    assert (answer["accepted"], answer["refused"]) == (1, 1500)
    assert len(answer["errors"]) == 1000
    assert [e["line"] for e in answer["errors"]] == list(range(1, 1001))
    assert node.counter(REFUSED, field="ts") == 1500


def test_a_batch_with_nothing_good_is_not_journaled(node: Node) -> None:
    answer = node.ingest(share(puid=0), share(diff=-1))
    assert (answer["accepted"], answer["refused"]) == (0, 2)
    assert node.service.engine.seq == 0
    assert node.client.get("/healthz").json()["journal_seq"] == 0
    assert node.ingest(share())["accepted"] == 1
    assert node.service.engine.seq == 1


def test_a_name_that_is_not_utf8_is_refused_not_a_server_error(node: Node) -> None:
    bad = b'{"ts": 1700000000, "puid": 1, "worker": "rig\xe9", "diff": 1, "accepted": true}\n'
    response = node.post(ndjson(share(diff=2)) + bad + ndjson(share(diff=4)))
    assert response.status_code == 200
    answer = response.json()
    assert (answer["accepted"], answer["refused"]) == (2, 1)
    assert answer["errors"][0]["line"] == 2
    assert answer["errors"][0]["error"].startswith("worker: not valid UTF-8")
    assert node.stored_workers(ALICE)["rig01"]["accept_1m"] == 6


def test_an_empty_body(node: Node) -> None:
    response = node.post(b"")
    assert response.status_code == 200
    assert response.json() == {"accepted": 0, "refused": 0, "rejected": 0, "errors": []}


@pytest.mark.parametrize(
    "content_type",
    [
        NDJSON,
        "application/x-ndjson; charset=utf-8",
        "application/json",
        "APPLICATION/X-NDJSON",
        "text/plain",
        None,
    ],
)
def test_ndjson_content_types(node: Node, content_type: str | None) -> None:
    response = node.post(ndjson(share(), share(diff=1)), content_type=content_type)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 2


# -- whole requests refused -------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong", "Bearer t0k0", "Bearer t0", "Basic t0k", "t0k", "Bearer", "Bearer "],
)
def test_401_without_the_token(node: Node, authorization: str | None) -> None:
    headers = {"Content-Type": NDJSON}
    if authorization is not None:
        headers["Authorization"] = authorization
    before = node.counter(REQUESTS_REFUSED, reason="unauthorized")
    response = node.client.post("/ingest/shares", content=ndjson(share()), headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["errors"][0]["error"].startswith("Authorization: ")
    assert node.counter(REQUESTS_REFUSED, reason="unauthorized") - before == 1
    assert node.service.engine.seq == 0 and node.service.engine.tracked_workers == 0


@pytest.mark.parametrize(
    "authorization", [f"bearer {TOKEN}", f"BEARER {TOKEN}", f"Bearer {TOKEN} "]
)
def test_the_scheme_is_case_insensitive(node: Node, authorization: str) -> None:
    response = node.post(ndjson(share()), token=None, headers={"Authorization": authorization})
    assert response.status_code == 200


def test_an_empty_ingest_token_opens_nothing(make_node: Callable[..., Node]) -> None:
    node = make_node(ingest_token="")
    for token in ("", TOKEN, "anything"):
        response = node.post(ndjson(share()), token=token)
        assert response.status_code == 401
    assert node.counter(REQUESTS_REFUSED, reason="unauthorized") == 3


def test_the_token_is_checked_before_anything_else(node: Node) -> None:
    response = node.post(b"x" * (MAX_BODY + 1), content_type="application/xml", token="no")
    assert response.status_code == 401


@pytest.mark.parametrize(
    "content_type", ["application/xml", "multipart/form-data; boundary=x", "image/png"]
)
def test_415_for_an_unknown_content_type(node: Node, content_type: str) -> None:
    response = node.post(ndjson(share()), content_type=content_type)
    assert response.status_code == 415
    assert response.json()["errors"][0]["error"].startswith("Content-Type: ")
    assert node.counter(REQUESTS_REFUSED, reason="content_type") == 1
    assert node.service.engine.seq == 0


def padded(size: int) -> bytes:
    """One good share and blank padding: exactly ``size`` bytes."""
    line = ndjson(share(diff=5))
    return line + b" " * (size - len(line) - 1) + b"\n"


def test_a_body_of_exactly_the_limit_is_accepted(node: Node) -> None:
    body = padded(MAX_BODY)
    assert len(body) == MAX_BODY
    response = node.post(body)
    assert response.status_code == 200
    assert response.json()["accepted"] == 1


def test_413_for_a_declared_length_over_the_limit(node: Node) -> None:
    response = node.post(padded(MAX_BODY + 1))
    assert response.request.headers["Content-Length"] == str(MAX_BODY + 1)
    assert response.status_code == 413
    assert response.json()["errors"][0]["error"].startswith("body: larger than")
    assert node.counter(REQUESTS_REFUSED, reason="too_large") == 1
    assert node.service.engine.seq == 0


def chunks(total: int, size: int = 4096) -> Iterator[bytes]:
    body = padded(total)
    for start in range(0, len(body), size):
        yield body[start : start + size]


def test_413_for_a_chunked_body_over_the_limit(node: Node) -> None:
    response = node.post(chunks(MAX_BODY + 1))
    assert "Content-Length" not in response.request.headers
    assert response.request.headers["Transfer-Encoding"] == "chunked"
    assert response.status_code == 413
    assert node.counter(REQUESTS_REFUSED, reason="too_large") == 1
    assert node.service.engine.seq == 0


def test_a_chunked_body_within_the_limit_is_read_whole(node: Node) -> None:
    response = node.post(chunks(MAX_BODY, size=1000))
    assert response.status_code == 200
    assert response.json()["accepted"] == 1
    assert node.stored_workers(ALICE)["rig01"]["accept_1m"] == 5


def test_max_body_bytes_setting_is_used(make_node: Callable[..., Node]) -> None:
    node = make_node(max_body_bytes=200)
    assert node.post(padded(200)).status_code == 200
    assert node.post(padded(201)).status_code == 413


def test_400_for_an_unreadable_columnar_batch(node: Node) -> None:
    body = encode_table([T0, T0], [1.0, 1.0], [0, 0], [0], ["rig01"], worker_puid=[ALICE])
    response = node.post(body, content_type=COLUMNAR)
    assert response.status_code == 400
    answer = response.json()
    assert (answer["accepted"], answer["refused"]) == (0, 0)
    assert answer["errors"][0]["error"].startswith("worker_idx: 1 values, expected 2")
    assert node.counter(REQUESTS_REFUSED, reason="unreadable") == 1
    assert node.service.engine.seq == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            msgspec.msgpack.encode(
                {"diff": [1.0], "status": [0], "worker_idx": [0], "worker": ["a"]}
            ),
            "ts",
        ),
        (
            msgspec.msgpack.encode(
                {"ts": "now", "diff": [1.0], "status": [0], "worker_idx": [0], "worker": ["a"]}
            ),
            "ts",
        ),
        (b"not msgpack", "columnar batch"),
        (ndjson(share()), "columnar batch"),
    ],
)
def test_400_messages_name_the_field(node: Node, body: bytes, field: str) -> None:
    response = node.post(body, content_type=COLUMNAR)
    assert response.status_code == 400
    assert response.json()["errors"][0]["error"].startswith(f"{field}: ")


# -- columnar over HTTP -----------------------------------------------------------------------


def test_a_columnar_batch_with_bad_shares(node: Node) -> None:
    before = node.counter(ACCEPTED, format="columnar")
    body = encode_table(
        ts=[T0 - 1, T0 - 2, T0 + 500, T0 - 3, T0 - 4],
        diff=[10.0, 20.0, 40.0, 80.0, float("nan")],
        status=[0, 255, 0, 0, 0],  # 255 used to be refused as 'accepted'
        worker_idx=[0, 0, 0, 1, 0],
        worker=["rig01", "rig02"],
        worker_puid=[ALICE, 77],
        ip_idx=[0, -1, 0, 0, 0],
        ip=["192.0.2.5"],
    )
    response = node.post(body, content_type=COLUMNAR)
    assert response.status_code == 200
    answer = response.json()
    assert (answer["accepted"], answer["refused"]) == (1, 4)
    assert [(e["line"], e["error"].split(":")[0]) for e in answer["errors"]] == [
        (2, "status"), (3, "ts"), (4, "puid"), (5, "diff")
    ]  # fmt: skip
    assert node.counter(ACCEPTED, format="columnar") - before == 1
    row = node.stored_workers(ALICE)["rig01"]
    assert (row["accept_1m"], row["last_share_ip"]) == (10, "192.0.2.5")
    assert node.service.store.workers(77) == []


def fleet(n: int = 400) -> list[dict[str, Any]]:
    """Shares of both sub-accounts: several workers, statuses, ips, times in the last hour."""
    rng = np.random.default_rng(11)
    names = ["rig01", "rig02", "S19 #1!", "S191", "antminer-7", ""]
    statuses = ["accept", "accept", "accept", "reject", "stale"]
    out: list[dict[str, Any]] = []
    for i in range(n):
        out.append({
            "ts": float(T0 - rng.integers(0, 3600) - rng.integers(0, 4) / 4),
            "puid": [ALICE, BOB][int(rng.integers(0, 2))],
            "worker": names[int(rng.integers(0, len(names)))],
            "diff": float(rng.choice([1024.0, 4096.0, 65536.0, 0.5, 1 / 3])),
            "status": statuses[int(rng.integers(0, len(statuses)))],
            "ip": ["203.0.113.7", "2001:db8::9"][i % 2],
        })  # fmt: skip
    out.sort(key=lambda s: float(s["ts"]))  # in time order, as a producer sends them
    return out


def as_columnar(shares: list[dict[str, Any]], by: str) -> bytes:
    names = sorted({s["worker"] for s in shares})
    ips = sorted({s["ip"] for s in shares})
    code = {"accept": 0, "reject": 1, "stale": 2}
    owners = {"puid": {}, "user": {"alice": 0, "bob": 1}}[by]
    return encode_columnar(
        ts=[s["ts"] for s in shares],
        diff=[s["diff"] for s in shares],
        status=[code[s["status"]] for s in shares],
        workers=names,
        worker_idx=[names.index(s["worker"]) for s in shares],
        puid=[s["puid"] for s in shares] if by == "puid" else None,
        users=list(owners) if by == "user" else None,
        user_idx=[s["puid"] - 1 for s in shares] if by == "user" else None,
        ips=ips,
        ip_idx=[ips.index(s["ip"]) for s in shares],
    )


def as_ndjson(shares: list[dict[str, Any]], by: str) -> bytes:
    if by == "puid":
        return ndjson(*shares)
    users = {ALICE: "alice", BOB: "bob"}
    return ndjson(*({**s, "puid": None, "user": users[s["puid"]]} for s in shares))


def store_contents(node: Node) -> dict[str, Any]:
    node.service.flush()
    store, config = node.service.store, node.service.config
    contents: dict[str, Any] = {"pool": store.pool_stats()}
    for puid in (ALICE, BOB):
        workers = store.workers(puid)
        contents[f"workers {puid}"] = workers
        contents[f"sub {puid}"] = store.subaccount_stats(puid)
        for period in config.subaccount_periods:
            contents[f"sub {puid} {period}"] = store.history(Level.SUBACCOUNT, period, puid=puid)
        for w in workers:
            for period in config.worker_periods:
                contents[f"w {puid} {w['worker_id']} {period}"] = store.history(
                    Level.WORKER, period, puid=puid, worker_id=w["worker_id"]
                )
    for period in config.pool_periods:
        contents[f"pool {period}"] = store.history(Level.POOL, period)
    return contents


@pytest.mark.parametrize("by", ["puid", "user"])
def test_ndjson_and_columnar_give_identical_store_contents(
    make_node: Callable[..., Node], by: str
) -> None:
    shares = fleet()
    a, b = make_node(), make_node()
    first = a.post(as_ndjson(shares, by), content_type=NDJSON)
    second = b.post(as_columnar(shares, by), content_type=COLUMNAR)
    assert first.status_code == second.status_code == 200
    answer = {"accepted": len(shares), "refused": 0, "rejected": 0, "errors": []}
    assert first.json() == second.json() == answer
    contents = store_contents(a)
    assert contents == store_contents(b)
    # and they are right: the 1d accept sum of each sub-account, worked out here
    for puid in (ALICE, BOB):
        mine = [s for s in shares if s["puid"] == puid and s["status"] == "accept"]
        expected = sum(round(s["diff"] / DIFF_QUANTUM) * DIFF_QUANTUM for s in mine)
        assert contents[f"sub {puid}"]["accept_1d"] == expected
        names = {normalize_worker_name(s["worker"]) for s in shares if s["puid"] == puid}
        assert {w["worker_name"] for w in contents[f"workers {puid}"]} == names


# -- metrics and health -----------------------------------------------------------------------


def test_metrics_move_by_exactly_the_refused_counts(node: Node) -> None:
    body = ndjson(
        share(), share(diff=0), share(diff=-1), share(ts=None), share(puid=9), "nope", share(),
    )  # fmt: skip
    before_bytes = node.counter("poolstats_ingest_bytes_total")
    node.post(body)
    node.post(body, token="bad")
    node.post(body, content_type="text/html")
    node.post(padded(MAX_BODY + 10))
    node.post(b"\xc1", content_type=COLUMNAR)
    assert node.metrics(REFUSED) == {
        (("field", "diff"),): 2.0,
        (("field", "ts"),): 1.0,
        (("field", "puid"),): 1.0,
        (("field", "event"),): 1.0,
    }
    assert node.metrics(REQUESTS_REFUSED) == {
        (("reason", "unauthorized"),): 1.0,
        (("reason", "content_type"),): 1.0,
        (("reason", "too_large"),): 1.0,
        (("reason", "unreadable"),): 1.0,
    }
    assert node.counter(ACCEPTED, format="ndjson") == 2
    assert node.counter("poolstats_ingest_bytes_total") - before_bytes == len(body)
    assert node.metrics("poolstats_journal_seq") == {(): 1.0}


def test_healthz(node: Node) -> None:
    health = node.client.get("/healthz").json()
    assert health == {
        "status": "ok",
        "ingest": "ok",
        "reasons": [],
        "time": int(T0),
        "journal_seq": 0,
        "workers_tracked": 0,
        "last_flush": 0,
        "flush_age_s": None,
    }
    node.ingest(share(worker="a"), share(worker="b"), share(worker="b"), share(puid=BOB))
    node.clock.advance(2)
    node.service.flush()
    node.clock.advance(5.5)
    health = node.client.get("/healthz").json()
    assert health == {
        "status": "ok",
        "ingest": "ok",
        "reasons": [],
        "time": int(T0 + 7.5),
        "journal_seq": 1,
        "workers_tracked": 3,
        "last_flush": int(T0 + 2),
        "flush_age_s": 5.5,
    }


def test_an_oversized_login_is_refused_even_when_its_worker_is_known(node: Node) -> None:
    share = {"ts": T0 - 5, "puid": ALICE, "diff": 8, "accepted": True}
    assert node.ingest({**share, "worker": "rig1"})["accepted"] == 1  # rig1 is now known
    long_login = "u" * 200 + ".rig1"
    answer = node.ingest({**share, "worker": long_login}, {**share, "worker": "alice.rig1"})
    assert answer["accepted"] == 1
    assert answer["errors"] == [{"line": 1, "error": "worker: longer than 128 characters"}]
    assert node.stored_workers(ALICE)["rig1"]["accept_count"] == 2


def test_metrics_show_lag_flush_time_and_workers_by_status(node: Node) -> None:
    share = {"puid": ALICE, "diff": 8, "accepted": True}
    node.ingest({**share, "ts": T0 - 30, "worker": "a"}, {**share, "ts": T0 - 7, "worker": "b"})
    assert node.metrics("poolstats_share_lag_seconds") == {(): 7.0}  # now - the newest share
    node.clock.advance(1000)  # a's and b's last accepted shares are now over 15 minutes old
    node.ingest({**share, "ts": T0 + 990, "worker": "c"})
    node.service.flush()
    assert node.metrics("poolstats_flush_seconds_count") == {(): 1.0}
    assert node.metrics("poolstats_workers_tracked") == {(): 3.0}
    assert node.metrics("poolstats_workers") == {
        (("status", "active"),): 1.0,
        (("status", "inactive"),): 2.0,
        (("status", "dead"),): 0.0,
    }


def test_refused_events_are_not_the_pools_rejected_shares(node: Node) -> None:
    """A share the pool rejected (``"accepted": false``) is an event taken and counted in the
    reject windows; an event with a field at fault is ``refused``. The answer's old name for
    refused, ``rejected``, stays as an alias with the same value."""
    refused_before = sum(node.metrics(REFUSED).values())
    answer = node.ingest(share(diff=1024), share(diff=512, accepted=False), share(diff=-1))
    assert (answer["accepted"], answer["refused"], answer["rejected"]) == (2, 1, 1)
    assert sum(node.metrics(REFUSED).values()) - refused_before == 1
    sums = node.service.engine.pool_sums()
    assert (float(sums.accept_1m[0]), float(sums.reject_1m[0])) == (1024.0, 512.0)
