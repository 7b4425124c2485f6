"""The session's protocol rules without a socket; shares are mined here with hashlib."""

from __future__ import annotations

import contextlib
import json
from fractions import Fraction
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from poolstats.domain.share import ShareEvent
from poolstats.stratum import protocol
from poolstats.stratum.jobs import JobBook, StaticTemplate
from poolstats.stratum.session import Limits, Session
from tests.stratum.miner import DIFF1, sha256d

NOW = 1_800_000_000
LIMITS = Limits(Fraction(1, 2**16), Fraction(2**10), Fraction(1, 2**12))
USERS = {"alice": 1}


def setup() -> tuple[Session, JobBook]:
    jobs = JobBook()
    template = StaticTemplate(height=900_000, payout_script=b"\x51", prevhash=bytes(range(32)))
    jobs.add(template.job(jobs.next_id(), NOW), clean=True)
    return Session(b"\x00\x00\x00\x09", jobs, LIMITS, USERS.get, "198.51.100.7"), jobs


def call(s: Session, method: str, params: list[Any], id: Any = 1) -> list[dict[str, Any]]:
    out = s.handle(protocol.Request(method=method, params=params, id=id), NOW)
    return [json.loads(line) for line in out.lines]


def mine(
    s: Session,
    job: list[Any],
    diff: Fraction,
    version_bits: int = 0,
    en2: int = 1,
    short_of: Fraction | None = None,
) -> list[str]:
    """A share of ``job`` meeting ``diff`` (and, given ``short_of``, not meeting that)."""
    job_id, prev, coinb1, coinb2, _, version, nbits, ntime, _ = job
    en2_bytes = en2.to_bytes(4, "big")
    root = sha256d(bytes.fromhex(coinb1) + s.extranonce1 + en2_bytes + bytes.fromhex(coinb2))
    prev_raw = bytes.fromhex(prev)
    head = (int(version, 16) | version_bits).to_bytes(4, "little")
    head += b"".join(prev_raw[i : i + 4][::-1] for i in range(0, 32, 4)) + root
    head += int(ntime, 16).to_bytes(4, "little") + int(nbits, 16).to_bytes(4, "little")
    target = int(Fraction(DIFF1) / diff)
    above = int(Fraction(DIFF1) / short_of) if short_of is not None else -1
    nonce = 0
    while not above < hash_value(head + nonce.to_bytes(4, "little")) <= target:
        nonce += 1
    params = [job_id, en2_bytes.hex(), ntime, f"{nonce:08x}"]
    return params + ([f"{version_bits:08x}"] if version_bits else [])


def hash_value(header: bytes) -> int:
    return int.from_bytes(sha256d(header), "little")


def test_subscribe_answers_the_usual_shape_then_difficulty_before_the_job() -> None:
    s, _ = setup()
    reply, set_diff, notify = call(s, "mining.subscribe", ["cgminer/4.11"])
    assert reply == {
        "id": 1,
        "result": [
            [["mining.set_difficulty", "00000009"], ["mining.notify", "00000009"]],
            "00000009",
            4,
        ],
        "error": None,
    }
    assert set_diff["method"] == "mining.set_difficulty" and set_diff["params"] == [2**-12]
    assert notify["method"] == "mining.notify" and notify["params"][-1] is True


def test_submits_need_a_subscription_and_an_authorized_worker() -> None:
    s, _ = setup()
    assert call(s, "mining.submit", ["alice.rig", "1", "00000001", "00000000", "00000000"])[0][
        "error"
    ] == [25, "not subscribed", None]
    call(s, "mining.subscribe", [])
    assert call(s, "mining.submit", ["alice.rig", "1", "00000001", "00000000", "00000000"])[0][
        "error"
    ] == [24, "unauthorized worker", None]
    assert call(s, "mining.authorize", ["mallory.rig", "x"])[0]["error"] == [
        24, "unknown user 'mallory'", None
    ]  # fmt: skip


def test_a_share_is_judged_at_the_difficulty_its_job_was_sent_with() -> None:
    s, _ = setup()
    notify = call(s, "mining.subscribe", [])[-1]["params"]
    call(s, "mining.authorize", ["alice.rig", "x"])
    old = mine(s, notify, Fraction(1, 2**12))
    # a retarget: set_difficulty, then the same work under a new job id
    easier = call(s, "mining.suggest_difficulty", [2**-14], id=5)
    assert [m.get("method") for m in easier] == [None, "mining.set_difficulty", "mining.notify"]
    assert easier[1]["params"] == [2**-14] and easier[2]["params"][0] != notify[0]
    harder = call(s, "mining.suggest_difficulty", [0.25], id=6)
    assert harder[1]["params"] == [0.25]
    # the share found before both: judged and credited at its own job's 2**-12
    out = s.handle(protocol.Request("mining.submit", ["alice.rig", *old], id=5), NOW)
    assert json.loads(out.lines[0]) == {"id": 5, "result": True, "error": None}  # id echoed
    assert out.shares == [
        ShareEvent(ts=NOW, puid=1, worker="rig", diff=2**-12, status="accept", ip="198.51.100.7")
    ]
    # the other ids name other work (their own coinbase): the same nonce is another
    # header there, which meets neither 2**-14 nor 0.25
    for other in (easier[2]["params"][0], harder[2]["params"][0]):
        assert call(s, "mining.submit", ["alice.rig", other, *old[1:]])[0]["error"][0] == 23
    # a share of the easier id's own work counts at 2**-14, the difficulty it was sent with
    mined = mine(s, easier[2]["params"], Fraction(1, 2**14))
    out = s.handle(protocol.Request("mining.submit", ["alice.rig", *mined], id=7), NOW)
    assert json.loads(out.lines[0])["result"] is True and out.shares[0].diff == 2**-14


def test_password_difficulty_is_clamped_to_the_bounds() -> None:
    s, _ = setup()
    call(s, "mining.subscribe", [])
    lines = call(s, "mining.authorize", ["alice.rig", "d=99999"])
    assert lines[1]["params"] == [1024.0]  # the maximum
    lines = call(s, "mining.authorize", ["alice.rig2", "x,d=0.00000001"])
    assert lines[1]["params"] == [2**-16]  # the minimum


def test_version_rolling_is_granted_within_the_pool_mask_and_checked() -> None:
    s, _ = setup()
    (reply,) = call(s, "mining.configure", [["version-rolling", "minimum-difficulty"],
                                            {"version-rolling.mask": "ffffffff"}])  # fmt: skip
    assert reply["result"] == {
        "version-rolling": True,
        "version-rolling.mask": "1fffe000",
        "minimum-difficulty": False,
    }
    notify = call(s, "mining.subscribe", [])[-1]["params"]
    call(s, "mining.authorize", ["alice.rig", "x"])
    rolled = mine(s, notify, Fraction(1, 2**12), version_bits=0x00006000)
    assert call(s, "mining.submit", ["alice.rig", *rolled])[0]["result"] is True
    outside = [*rolled[:4], "40000000"]
    assert call(s, "mining.submit", ["alice.rig", *outside])[0]["error"][0] == 20


def test_unknown_methods_and_bad_fields_are_errors_naming_them() -> None:
    s, _ = setup()
    assert call(s, "mining.fly", [])[0]["error"] == [20, "unknown method 'mining.fly'", None]
    call(s, "mining.subscribe", [])
    call(s, "mining.authorize", ["alice.rig", "x"])
    (reply,) = call(s, "mining.submit", ["alice.rig", "1", "zz", "00000000", "00000000"])
    assert reply["error"] == [20, "extranonce2: 8 hexadecimal digits are needed", None]


METHODS = [
    "mining.subscribe",
    "mining.authorize",
    "mining.configure",
    "mining.suggest_difficulty",
    "mining.extranonce.subscribe",
    "mining.submit",
    "other",
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_decode_or_give_a_protocol_error(line: bytes) -> None:
    with contextlib.suppress(protocol.ProtocolError):
        protocol.decode(line)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(METHODS),
    st.lists(json_values, max_size=7),
)
def test_any_params_get_an_answer_never_an_exception(method: str, params: list[Any]) -> None:
    s, _ = setup()
    call(s, "mining.subscribe", [])
    call(s, "mining.authorize", ["alice.rig", "x"])
    out = s.handle(protocol.Request(method, params, 3), NOW)
    first = json.loads(out.lines[0])
    assert first["id"] == 3 and (first["error"] is None) != (first["result"] is None)


def test_vardiff_raises_a_fast_miners_difficulty_and_keeps_its_work_in_flight() -> None:
    limits = Limits(Fraction(1, 2**24), Fraction(2**10), Fraction(1, 2**24), share_interval_s=10)
    jobs = JobBook()
    template = StaticTemplate(height=900_000, payout_script=b"\x51", prevhash=bytes(32))
    jobs.add(template.job(jobs.next_id(), NOW), clean=True)
    s = Session(b"\x00\x00\x00\x0a", jobs, limits, USERS.get)
    s.handle(protocol.Request("mining.subscribe", []), NOW)
    s.handle(protocol.Request("mining.authorize", ["alice.rig", "x"]), NOW)
    job = [jobs.current.job.job_id, *notify_of(jobs)] if jobs.current else []
    # 16 shares of 2**-24, one a second: 16 * 2**-24 of work in 16 s. One share per 10 s
    # needs 10 * 2**-24 per share; the nearest power of two is 8 * 2**-24 = 2**-21.
    mined = [mine(s, job, Fraction(1, 2**24), en2=en2) for en2 in range(1, 18)]
    for i, params in enumerate(mined[:16], start=1):
        out = s.handle(protocol.Request("mining.submit", ["alice.rig", *params], id=i), NOW + i)
        assert json.loads(out.lines[0])["result"] is True
    lines = [json.loads(line) for line in out.lines]
    assert [m.get("method") for m in lines] == [None, "mining.set_difficulty", "mining.notify"]
    assert lines[1]["params"] == [2**-21] and lines[2]["params"][0] != job[0]
    # a share of the old job found meanwhile still counts, at the old job's difficulty
    late = s.handle(protocol.Request("mining.submit", ["alice.rig", *mined[16]]), NOW + 17)
    assert json.loads(late.lines[0])["result"] is True and late.shares[0].diff == 2**-24


def test_a_silent_connection_gets_a_quarter_of_its_difficulty_with_the_next_job() -> None:
    s, jobs = setup()
    call(s, "mining.subscribe", [])
    call(s, "mining.authorize", ["alice.rig", "x"])
    s.tick(NOW + 59)  # six intervals of 10 s without a share: not yet
    entry = jobs.add(StaticTemplate(900_001, b"\x51").job(jobs.next_id(), NOW + 59), clean=True)
    assert json.loads(s.job_lines(entry)[0])["method"] == "mining.notify"
    s.tick(NOW + 60)
    set_diff = json.loads(s.job_lines(entry)[0])
    assert set_diff["params"] == [2**-14]  # 2**-12 / 4


def test_a_new_block_makes_earlier_jobs_stale() -> None:
    s, jobs = setup()
    notify = call(s, "mining.subscribe", [])[-1]["params"]
    call(s, "mining.authorize", ["alice.rig", "x"])
    share = mine(s, notify, Fraction(1, 2**12))
    entry = jobs.add(StaticTemplate(900_001, b"\x51").job(jobs.next_id(), NOW), clean=True)
    s.job_lines(entry)
    (reply,) = call(s, "mining.submit", ["alice.rig", *share])
    assert reply["error"] == [21, "job not found", None]


def test_a_reconnecting_miner_resumes_its_session_and_its_work() -> None:
    s, jobs = setup()
    notify = call(s, "mining.subscribe", [])[-1]["params"]
    call(s, "mining.authorize", ["alice.rig", "x"])
    call(s, "mining.suggest_difficulty", [2**-13])
    share = mine(s, notify, Fraction(1, 2**12))  # found before the connection dropped
    parked = {s.extranonce1.hex(): s}
    again = Session(
        b"\x00\x00\x00\x77", jobs, LIMITS, USERS.get, resume=lambda sid: parked.pop(sid, None)
    )
    reply, set_diff, _ = call(again, "mining.subscribe", ["cgminer/4.11", "00000009"])
    assert reply["result"][1] == "00000009" and again.extranonce1 == b"\x00\x00\x00\x09"
    assert set_diff["params"] == [2**-13]  # the difficulty it had
    call(again, "mining.authorize", ["alice.rig", "x"])
    assert call(again, "mining.submit", ["alice.rig", *share])[0]["result"] is True
    # an id nobody holds (or one already resumed) gets a fresh session
    third = Session(
        b"\x00\x00\x00\x78", jobs, LIMITS, USERS.get, resume=lambda sid: parked.pop(sid, None)
    )
    call(third, "mining.subscribe", ["cgminer/4.11", "00000009"])
    assert third.extranonce1 == b"\x00\x00\x00\x78"


class Told:
    """What a miner was told over one session's connections: the difficulty in force (a
    ``mining.set_difficulty`` applies to the notifies after it) and every job with it."""

    def __init__(self) -> None:
        self.diff: float | None = None
        self.jobs: list[tuple[list[Any], float]] = []  # (notify params, difficulty)

    def read(self, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for line in lines:
            if line.get("method") == "mining.set_difficulty":
                self.diff = line["params"][0]
            elif line.get("method") == "mining.notify":
                assert self.diff is not None, "a job before any difficulty"
                self.jobs.append((line["params"], self.diff))
        return lines

    def new_connection(self) -> None:
        self.diff = None  # a miner forgets it; the server must say it again

    def difficulties_by_id(self) -> dict[str, set[float]]:
        found: dict[str, set[float]] = {}
        for params, diff in self.jobs:
            found.setdefault(params[0], set()).add(diff)
        return found

    def difficulties_by_work(self) -> dict[tuple[Any, ...], set[float]]:
        """By the header's fields as a miner builds it (prevhash, coinbase parts, branch,
        version, nbits, ntime): a miner that switches only on new header bytes keeps the
        difficulty of the first job with those."""
        found: dict[tuple[Any, ...], set[float]] = {}
        for params, diff in self.jobs:
            work = tuple(json.dumps(p) for p in params[1:8])
            found.setdefault(work, set()).add(diff)
        return found


def resumed(s: Session, jobs: JobBook, extranonce1: bytes) -> Session:
    """A new connection's session resuming ``s`` (as the server parks and unparks them)."""
    parked = {s.extranonce1.hex(): s}
    return Session(extranonce1, jobs, LIMITS, USERS.get, "198.51.100.7", parked.pop)


def test_a_resumed_session_keeps_the_difficulty_each_job_id_was_sent_with() -> None:
    """Job 1 at 2**-12, a suggestion of 2**-8, the connection drops, the miner resumes. Job
    1 is never announced at 2**-8: a share of it found before the drop counts at 2**-12,
    and the work announced at 2**-8 is judged at 2**-8."""
    s, jobs = setup()
    told = Told()
    told.read(call(s, "mining.subscribe", ["cpuminer/2.5.1"]))
    call(s, "mining.authorize", ["alice.rig", "x"])
    (job_1, at), *_ = told.jobs
    assert (job_1[0], at) == ("1", 2**-12)
    told.read(call(s, "mining.suggest_difficulty", [2**-8]))
    share = mine(s, job_1, Fraction(1, 2**12))  # found before the drop
    again = resumed(s, jobs, b"\x00\x00\x00\x77")
    told.new_connection()
    told.read(call(again, "mining.subscribe", ["cpuminer/2.5.1", "00000009"]))
    latest, diff = told.jobs[-1]
    assert diff == 2**-8 and latest[0] != "1"
    assert all(len(d) == 1 for d in told.difficulties_by_id().values())
    call(again, "mining.authorize", ["alice.rig", "x"])
    out = again.handle(protocol.Request("mining.submit", ["alice.rig", *share], id=9), NOW)
    assert json.loads(out.lines[0]) == {"id": 9, "result": True, "error": None}
    assert out.shares[0].diff == 2**-12
    weak = mine(again, latest, Fraction(1, 2**12), en2=2, short_of=Fraction(1, 2**8))
    assert call(again, "mining.submit", ["alice.rig", *weak])[0]["error"][0] == 23


def test_retargeted_work_differs_from_the_work_sent_before_in_its_coinbase_only() -> None:
    s, _ = setup()
    told = Told()
    told.read(call(s, "mining.subscribe", []))
    call(s, "mining.authorize", ["alice.rig", "x"])
    for diff in (2**-14, 2**-13, 2**-14):  # back to 2**-14: new work again, under a new id
        told.read(call(s, "mining.suggest_difficulty", [diff]))
    assert [d for _, d in told.jobs] == [2**-12, 2**-14, 2**-13, 2**-14]
    assert len({p[0] for p, _ in told.jobs}) == 4
    assert len({p[3] for p, _ in told.jobs}) == 4  # coinb2: four different coinbases
    assert all(p[1:3] + p[4:] == told.jobs[0][0][1:3] + told.jobs[0][0][4:] for p, _ in told.jobs)
    for params, _ in told.jobs:
        coinb2 = bytes.fromhex(params[3])
        # only the coinbase input's sequence (coinb2's first 4 bytes) differs
        assert coinb2[4:] == bytes.fromhex(told.jobs[0][0][3])[4:]


ACTIONS = st.lists(
    st.one_of(
        st.tuples(st.just("suggest"), st.sampled_from([2**-16, 2**-14, 2**-12, 2**-10])),
        st.tuples(st.just("password"), st.sampled_from([2**-16, 2**-12, 2**-8])),
        st.tuples(st.sampled_from(["block", "refresh", "resume", "silence"]), st.just(0.0)),
    ),
    max_size=25,
)


@settings(max_examples=200, deadline=None)
@given(ACTIONS)
def test_a_job_id_keeps_its_difficulty_and_new_difficulty_comes_with_new_work(
    actions: list[tuple[str, float]],
) -> None:
    """Whatever happens (suggestions, d= passwords, new blocks, refreshes, silent spells
    that quarter the difficulty, reconnections resuming the session), no job id is ever
    announced at two difficulties, and no work (header bytes) is either."""
    s, jobs = setup()
    told = Told()
    told.read(call(s, "mining.subscribe", []))
    call(s, "mining.authorize", ["alice.rig", "x"])
    now, height, logins = NOW, 900_001, 0
    for action, value in actions:
        if action == "suggest":
            told.read(call(s, "mining.suggest_difficulty", [value]))
        elif action == "password":
            logins += 1
            told.read(call(s, "mining.authorize", [f"alice.rig{logins}", f"d={value}"]))
        elif action in ("block", "refresh", "silence"):
            now += 60 if action == "silence" else 1  # a refresh comes seconds later
            s.tick(now)
            if action == "block":
                height += 1
            template = StaticTemplate(height, b"\x51", prevhash=height.to_bytes(32, "big"))
            entry = jobs.add(template.job(jobs.next_id(), now), clean=action == "block")
            told.read([json.loads(line) for line in s.job_lines(entry)])
        else:
            s = resumed(s, jobs, b"\x00\x00\x01\x00")
            told.new_connection()
            told.read(call(s, "mining.subscribe", ["cpuminer/2.5.1", "00000009"]))
    assert all(len(d) == 1 for d in told.difficulties_by_id().values())
    assert all(len(d) == 1 for d in told.difficulties_by_work().values())


def notify_of(jobs: JobBook) -> list[Any]:
    from poolstats.stratum.jobs import notify_params

    assert jobs.current is not None
    return notify_params(jobs.current.job, jobs.current.clean)[1:]
