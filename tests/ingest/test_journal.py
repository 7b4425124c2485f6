"""The ingest journal on real files: round trips, torn tails, corruption, threads, kill -9."""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from poolstats.ingest.journal import (
    HEADER_SIZE,
    Journal,
    JournalCorrupt,
    JournalError,
    Record,
    segment_name,
)


def _payload(i: int, size: int | None = None) -> bytes:
    """Distinct, deterministic payload for record i (varied sizes, including empty)."""
    n = (i * 37) % 300 if size is None else size
    seed = hashlib.sha256(i.to_bytes(8, "little")).digest()
    return (seed * (n // 32 + 1))[:n]


def _segments(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.wal"))


def _fill(directory: Path, count: int, segment_bytes: int = 1000) -> list[Record]:
    """Append ``count`` records to a fresh journal and close it; returns what was written."""
    written = []
    with Journal(directory, segment_bytes=segment_bytes) as j:
        for i in range(1, count + 1):
            seq = j.append(i % 256, _payload(i))
            written.append(Record(seq, i % 256, _payload(i)))
    return written


def test_round_trip_across_segments_and_reopen(tmp_path: Path) -> None:
    written = _fill(tmp_path, 60)
    assert [r.seq for r in written] == list(range(1, 61))
    segs = _segments(tmp_path)
    assert len(segs) >= 4
    for seg in segs:
        assert seg.stat().st_size <= 1000
    assert segs[0].name == segment_name(1) == "00000000000000000001.wal"

    with Journal(tmp_path, segment_bytes=1000) as j:
        assert j.last_seq == 60
        assert list(j.replay()) == written
        for after in (0, 1, 17, 59, 60):
            assert list(j.replay(after)) == written[after:]
        # each segment is named by the seq of its first record
        starts = {int(seg.name.removesuffix(".wal")) for seg in segs}
        assert starts <= {r.seq for r in written}
        assert j.append(7, b"next") == 61
        assert list(j.replay(60)) == [Record(61, 7, b"next")]

    with Journal(tmp_path, segment_bytes=1000) as j:
        assert j.last_seq == 61
        assert list(j.replay()) == [*written, Record(61, 7, b"next")]


def test_oversized_payload_goes_alone_in_its_own_segment(tmp_path: Path) -> None:
    big = os.urandom(5000)
    with Journal(tmp_path, segment_bytes=1000) as j:
        assert j.append(1, b"a") == 1
        assert j.append(2, big) == 2
        assert j.append(3, b"c") == 3
        assert [r.payload for r in j.replay()] == [b"a", big, b"c"]
    assert [p.name for p in _segments(tmp_path)] == [segment_name(s) for s in (1, 2, 3)]
    assert (tmp_path / segment_name(2)).stat().st_size == HEADER_SIZE + 5000


def test_seq_survives_reopen_and_truncation_of_everything_old(tmp_path: Path) -> None:
    written = _fill(tmp_path, 40)
    firsts = [int(p.name.removesuffix(".wal")) for p in _segments(tmp_path)]
    assert len(firsts) >= 3

    with Journal(tmp_path, segment_bytes=1000) as j:
        # segment 1 holds 1..firsts[1]-1: not all < firsts[1]-1, all < firsts[1]
        assert j.truncate_before(firsts[1] - 1) == 0
        assert j.truncate_before(firsts[1]) == 1
        assert list(j.replay(firsts[1] - 1)) == written[firsts[1] - 1 :]
        with pytest.raises(JournalError, match="truncated"):
            j.replay(0)
        # everything the checkpoint covers: only the newest segment stays
        assert j.truncate_before(10**9) == len(firsts) - 2
        assert _segments(tmp_path) == [tmp_path / segment_name(firsts[-1])]

    with Journal(tmp_path, segment_bytes=1000) as j:
        assert j.last_seq == 40
        assert list(j.replay(40)) == []
        assert j.append(0, b"after") == 41
        assert list(j.replay(40)) == [Record(41, 0, b"after")]

    # the newest segment emptied too (torn first record): its name still carries the seq
    with Journal(tmp_path, segment_bytes=1000) as j:
        for _ in range(20):
            j.append(1, b"x" * 100)
        last = j.last_seq
        assert j.truncate_before(last + 1) >= 1
    newest = _segments(tmp_path)[-1]
    first = int(newest.name.removesuffix(".wal"))
    os.truncate(newest, 10)  # the first record of the newest segment is torn
    with Journal(tmp_path, segment_bytes=1000) as j:
        assert j.last_seq == first - 1
        assert newest.stat().st_size == 0
        assert j.append(2, b"resumed") == first
        assert list(j.replay(first - 1)) == [Record(first, 2, b"resumed")]


def test_torn_tail_is_cut_at_every_offset_inside_the_last_record(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pristine = tmp_path / "pristine"
    written = _fill(pristine, 3, segment_bytes=2**20)
    seg = _segments(pristine)[0].name
    data = (pristine / seg).read_bytes()
    last_len = HEADER_SIZE + len(written[-1].payload)
    start = len(data) - last_len
    assert last_len > HEADER_SIZE  # the cut also lands inside a payload

    for cut in range(start, len(data)):
        d = tmp_path / f"cut{cut}"
        d.mkdir()
        (d / seg).write_bytes(data[:cut])
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="poolstats.ingest.journal"), Journal(d) as j:
            assert j.last_seq == 2
            assert list(j.replay()) == written[:2]
            assert j.append(9, b"new") == 3
        assert (cut > start) == any("torn tail" in m for m in caplog.messages)
        with Journal(d) as j:
            assert list(j.replay()) == [*written[:2], Record(3, 9, b"new")]


def test_damaged_tail_bytes_are_cut(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    pristine = tmp_path / "pristine"
    written = _fill(pristine, 3, segment_bytes=2**20)
    seg = _segments(pristine)[0].name
    data = (pristine / seg).read_bytes()

    flipped = bytearray(data)
    flipped[-5] ^= 0x40  # bit rot / half-written page in the last record: CRC mismatch
    zeros = data + bytes(4096)  # unwritten pages after a power loss read as zeros
    for name, content in (("flip", bytes(flipped)), ("zeros", zeros)):
        d = tmp_path / name
        d.mkdir()
        (d / seg).write_bytes(content)
        with Journal(d) as j:
            expected = written[:2] if name == "flip" else written
            assert list(j.replay()) == expected
            assert j.append(1, b"z") == len(expected) + 1

    # garbage, then an intact record: damage, not a torn tail; the record after it is kept
    d = tmp_path / "resync"
    d.mkdir()
    last_len = HEADER_SIZE + len(written[-1].payload)
    garbage_at = len(data) - last_len
    (d / seg).write_bytes(data[:garbage_at] + b"\xff" * 50 + data[-last_len:])
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="poolstats.ingest.journal"), Journal(d) as j:
        assert list(j.replay()) == written
        assert [(x.offset, x.length, x.lost) for x in j.damage] == [(garbage_at, 50, 0)]
    assert any(r.levelno == logging.ERROR and seg in r.message for r in caplog.records)
    kept = d / "damaged" / f"{seg.removesuffix('.wal')}-{garbage_at}.bin"
    assert kept.read_bytes() == b"\xff" * 50
    assert (d / seg).stat().st_size == len(data) + 50  # acknowledged bytes stay where they were


def test_intact_record_with_wrong_seq_at_the_tail_is_not_cut(tmp_path: Path) -> None:
    """A CRC-valid record cannot be a torn write: refuse rather than drop it."""
    a, b = tmp_path / "a", tmp_path / "b"
    _fill(a, 2, segment_bytes=2**20)
    _fill(b, 3, segment_bytes=2**20)
    data_a = _segments(a)[0].read_bytes()
    data_b = _segments(b)[0].read_bytes()
    # b's records 2 and 3 after a's records 1 and 2: record "2" again where 3 is expected
    second = len(data_a) - (HEADER_SIZE + len(_payload(2)))
    _segments(a)[0].write_bytes(data_a + data_b[second:])
    with pytest.raises(JournalCorrupt, match="intact record"):
        Journal(a)


def _record_offsets(path: Path, first: int) -> dict[int, tuple[int, int]]:
    """seq -> (offset, size) of each record of a well-formed segment."""
    data = path.read_bytes()
    out, offset, seq = {}, 0, first
    while offset < len(data):
        length = int.from_bytes(data[offset + 16 : offset + 20], "little")
        out[seq] = (offset, HEADER_SIZE + length)
        offset += HEADER_SIZE + length
        seq += 1
    return out


def test_flipped_byte_in_a_middle_segment_skips_that_record_only(tmp_path: Path) -> None:
    written = _fill(tmp_path, 60)
    segs = _segments(tmp_path)
    assert len(segs) >= 4
    middle = segs[1]
    first = int(middle.name.removesuffix(".wal"))
    raw = bytearray(middle.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    middle.write_bytes(bytes(raw))
    hit = next(
        seq
        for seq, (off, size) in _record_offsets(middle, first).items()
        if off <= len(raw) // 2 < off + size
    )

    with Journal(tmp_path, segment_bytes=1000) as j:  # opening scans the newest only
        assert j.last_seq == 60
        assert list(j.replay()) == [r for r in written if r.seq != hit]
        assert [(d.first_lost, d.last_lost) for d in j.damage] == [(hit, hit)]
        after_damage = int(segs[2].name.removesuffix(".wal")) - 1
        assert list(j.replay(after_damage)) == written[after_damage:]


def test_missing_or_short_middle_segment(tmp_path: Path) -> None:
    """A short segment lost its last record (skipped, kept aside); a missing one raises."""
    written = _fill(tmp_path, 60)
    segs = _segments(tmp_path)
    last_of_middle = int(segs[2].name.removesuffix(".wal")) - 1
    os.truncate(segs[1], segs[1].stat().st_size - 1)
    with Journal(tmp_path, segment_bytes=1000) as j:
        assert list(j.replay()) == [r for r in written if r.seq != last_of_middle]
        assert [d.lost for d in j.damage] == [1]
    segs[1].unlink()
    with Journal(tmp_path, segment_bytes=1000) as j, pytest.raises(JournalCorrupt, match="missing"):
        list(j.replay())


def _flip16(path: Path, at: int) -> bytes:
    """Flip 16 bytes of ``path`` from offset ``at``; returns the damaged bytes' old content."""
    raw = bytearray(path.read_bytes())
    before = bytes(raw[at : at + 16])
    for i in range(at, at + 16):
        raw[i] ^= 0xA5
    path.write_bytes(bytes(raw))
    return before


# where inside record 11 the 16 flipped bytes start: its header (magic, seq), its length
# field (header bytes 16..19), its payload
_WHERE = {"header": 0, "length": 12, "payload": 40}


@pytest.mark.parametrize("where", sorted(_WHERE))
@pytest.mark.parametrize("segment", ["newest", "older"])
def test_damaged_record_11_of_20_loses_only_record_11(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, where: str, segment: str
) -> None:
    """16 bytes flipped inside record 11: the 19 intact records all come back, at opening
    and in replay, record 11's bytes are copied aside, the ERROR names the segment, the
    offset and seq 11, and nothing acknowledged is changed or cut on disk."""
    written = [Record(i, 1, _payload(i, 200)) for i in range(1, 21)]
    # one segment for "newest"; for "older", 5 records a segment so record 11 is in the
    # third of four segments
    segment_bytes = 2**20 if segment == "newest" else 5 * (HEADER_SIZE + 200)
    with Journal(tmp_path, segment_bytes=segment_bytes) as j:
        for r in written:
            assert j.append(r.kind, r.payload) == r.seq
    segs = _segments(tmp_path)
    holder = max(p for p in segs if int(p.name.removesuffix(".wal")) <= 11)
    assert (holder == segs[-1]) == (segment == "newest")
    offset, size = _record_offsets(holder, int(holder.name.removesuffix(".wal")))[11]
    before_flip = holder.read_bytes()
    _flip16(holder, offset + _WHERE[where])
    damaged_file = holder.read_bytes()

    caplog.clear()
    logs = caplog.at_level(logging.ERROR, logger="poolstats.ingest.journal")
    with logs, Journal(tmp_path, segment_bytes=segment_bytes) as j:
        assert j.last_seq == 20
        assert list(j.replay()) == [r for r in written if r.seq != 11]
        assert list(j.replay(11)) == written[11:]
        assert [(d.segment, d.offset, d.length, d.lost) for d in j.damage] == [
            (holder.name, offset, size, 1)
        ]
        assert j.append(7, b"after") == 21
    errors = [r.message for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1  # opening and replay found the same damage: said once
    assert holder.name in errors[0] and f"offset {offset}" in errors[0] and "seq 11" in errors[0]
    kept = tmp_path / "damaged" / f"{holder.name.removesuffix('.wal')}-{offset}.bin"
    assert kept.read_bytes() == damaged_file[offset : offset + size]
    assert kept.read_bytes() != before_flip[offset : offset + size]
    if segment == "older":
        assert holder.read_bytes() == damaged_file  # untouched
    else:
        assert holder.read_bytes()[: len(damaged_file)] == damaged_file  # only appended to
    with Journal(tmp_path, segment_bytes=segment_bytes) as j:  # and again after a restart
        assert list(j.replay()) == [r for r in written if r.seq != 11] + [Record(21, 7, b"after")]


def test_damage_in_the_last_record_of_the_newest_segment_is_a_torn_tail(tmp_path: Path) -> None:
    """Nothing intact after the bad bytes: today's torn-tail handling, no copy kept."""
    written = _fill(tmp_path, 20, segment_bytes=2**20)
    seg = _segments(tmp_path)[0]
    offset, _ = _record_offsets(seg, 1)[20]
    _flip16(seg, offset + 30)
    with Journal(tmp_path) as j:
        assert list(j.replay()) == written[:19]
        assert j.damage == []
    assert seg.stat().st_size == offset
    assert not (tmp_path / "damaged").exists()


@pytest.mark.parametrize("lands", ["mid_record", "record_boundary"])
@pytest.mark.parametrize("checkpoint", [3, 4])
def test_damaged_length_at_or_below_the_checkpoint_loses_no_later_record(
    tmp_path: Path, lands: str, checkpoint: int
) -> None:
    """Record 3's length field is damaged so it points two records (and, for "mid_record",
    50 bytes) further on. Replay after a checkpoint at 3 or 4 skips records up to the
    checkpoint unverified, yet every record after the checkpoint comes back, and so does
    backup's scan of the same segment: only seq 3 is reported lost."""
    from poolstats.store.backup import _scan_journal

    written = [Record(i, 1, _payload(i, 200)) for i in range(1, 11)]
    with Journal(tmp_path, segment_bytes=2**20) as j:
        for r in written:
            assert j.append(r.kind, r.payload) == r.seq
    seg = _segments(tmp_path)[0]
    offset, size = _record_offsets(seg, 1)[3]
    raw = bytearray(seg.read_bytes())
    extra = 2 * size + (50 if lands == "mid_record" else 0)
    raw[offset + 16 : offset + 20] = (200 + extra).to_bytes(4, "little")
    seg.write_bytes(bytes(raw))

    with Journal(tmp_path, segment_bytes=2**20) as j:
        assert j.last_seq == 10
        assert list(j.replay(checkpoint)) == written[checkpoint:]
        assert [(d.first_lost, d.last_lost) for d in j.damage] == [(3, 3)]
    found = _scan_journal(tmp_path, checkpoint + 1, cut_torn=False)
    assert found.last == 10
    assert [(d.first_lost, d.last_lost) for d in found.damaged] == [(3, 3)]


def test_a_failed_write_is_cleared_only_by_a_write_that_came_after_it(tmp_path: Path) -> None:
    """An append whose write came before a failure, finishing its sync after it, does not
    clear that failure; a later one does. The failure is reported only while recent."""
    with Journal(tmp_path) as j:
        syncing, release = threading.Event(), threading.Event()
        real_wait = j._wait_durable

        def slow_wait(seq: int) -> None:
            syncing.set()
            assert release.wait(30)
            real_wait(seq)

        j._wait_durable = slow_wait  # type: ignore[method-assign]
        earlier = threading.Thread(target=j.append, args=(1, b"earlier"))
        earlier.start()
        assert syncing.wait(30)
        j._wait_durable = real_wait  # type: ignore[method-assign]

        real_write = j._write_all

        def full_disk(*args: object) -> None:
            raise OSError(28, "No space left on device")

        j._write_all = full_disk  # type: ignore[method-assign]
        with pytest.raises(OSError):
            j.append(1, b"fails")
        j._write_all = real_write  # type: ignore[method-assign]
        release.set()
        earlier.join(30)
        assert not earlier.is_alive()
        problem = j.problem()
        assert problem is not None and "append failed" in problem
        assert j.problem(recent_s=0.0) is None  # older than the window: not reported
        assert j.append(1, b"later") == 2
        assert j.problem() is None
        assert [r.payload for r in j.replay()] == [b"earlier", b"later"]


def test_checkpoint_ahead_of_journal_is_refused(tmp_path: Path) -> None:
    """A lost or replaced journal would hand out seqs the checkpoint already claims."""
    _fill(tmp_path, 5)
    with Journal(tmp_path) as j:
        assert list(j.replay(5)) == []
        with pytest.raises(JournalError, match="lost or replaced"):
            j.replay(6)


def test_one_journal_per_directory_and_argument_checks(tmp_path: Path) -> None:
    j = Journal(tmp_path)
    with pytest.raises(JournalError, match="in use"):
        Journal(tmp_path)
    with pytest.raises(ValueError):
        j.append(256, b"x")
    with pytest.raises(ValueError):
        j.replay(-1)
    assert j.append(0, b"") == 1
    assert list(j.replay()) == [Record(1, 0, b"")]
    j.close()
    j.close()
    with pytest.raises(JournalError, match="closed"):
        j.append(0, b"x")
    with Journal(tmp_path) as again:  # the lock went with close()
        assert again.last_seq == 1


def test_concurrent_appends_from_8_threads(tmp_path: Path) -> None:
    threads, per_thread = 8, 150
    barrier = threading.Barrier(threads)
    results: dict[int, list[tuple[int, bytes]]] = {}
    errors: list[BaseException] = []

    def worker(t: int) -> None:
        rng = random.Random(t)
        mine = []
        try:
            barrier.wait(timeout=30)
            for i in range(per_thread):
                payload = f"{t}:{i}:".encode() + rng.randbytes(rng.randrange(0, 3000))
                mine.append((j.append(t, payload), payload))
        except BaseException as exc:
            errors.append(exc)
        results[t] = mine

    with Journal(tmp_path, segment_bytes=64 * 1024) as j:
        pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
        for th in pool:
            th.start()
        for th in pool:
            th.join(timeout=120)
            assert not th.is_alive()
        assert errors == []
        acked = {seq: (t, p) for t, rows in results.items() for seq, p in rows}
        total = threads * per_thread
        assert sorted(acked) == list(range(1, total + 1))  # contiguous, none twice
        for rows in results.values():  # each thread's own seqs rise in call order
            assert [s for s, _ in rows] == sorted(s for s, _ in rows)
        assert j.last_seq == total
        assert len(_segments(tmp_path)) > 1

    with Journal(tmp_path, segment_bytes=64 * 1024) as j:
        replayed = list(j.replay())
    assert [r.seq for r in replayed] == list(range(1, total + 1))
    assert {r.seq: (r.kind, r.payload) for r in replayed} == acked
    assert len({r.payload for r in replayed}) == total  # every payload exactly once


_CHILD = r"""
import hashlib, os, random, sys, threading
from pathlib import Path
from poolstats.ingest.journal import Journal

j = Journal(Path(sys.argv[1]), segment_bytes=512 * 1024)
out = threading.Lock()

def writer(t):
    rng = random.Random(os.getpid() * 100 + t)
    while True:
        payload = rng.randbytes(rng.randrange(0, 256 * 1024))
        seq = j.append(t, payload)
        line = f"{seq} {t} {hashlib.sha256(payload).hexdigest()}\n"
        with out:
            sys.stdout.write(line)
            sys.stdout.flush()

for t in range(4):
    threading.Thread(target=writer, args=(t,), daemon=True).start()
threading.Event().wait()
"""


def _run_and_kill(
    directory: Path, stderr_path: Path, min_reports: int
) -> dict[int, tuple[int, str]]:
    """Start a writer process, SIGKILL it once it has reported ``min_reports`` seqs."""
    with open(stderr_path, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(directory)],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    reported: dict[int, tuple[int, str]] = {}

    def take(deadline: float) -> bool:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return False
        if line is None:
            return False
        seq, kind, digest = line.split()
        reported[int(seq)] = (int(kind), digest)
        return True

    try:
        deadline = time.monotonic() + 60
        while len(reported) < min_reports:
            if not take(deadline):
                pytest.fail(f"writer stalled or died: {stderr_path.read_text()}")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    # lines already in the pipe were reported before the kill: they count too
    deadline = time.monotonic() + 30
    while take(deadline):
        pass
    reader.join(timeout=30)
    assert not reader.is_alive()
    assert proc.returncode == -signal.SIGKILL
    return reported


@pytest.mark.slow
def test_every_reported_seq_survives_sigkill(tmp_path: Path) -> None:
    directory = tmp_path / "journal"
    reported: dict[int, tuple[int, str]] = {}
    for round_ in range(3):  # later rounds start from whatever tail the previous kill left
        reported |= _run_and_kill(directory, tmp_path / f"stderr{round_}", min_reports=150)

    with Journal(directory, segment_bytes=512 * 1024) as j:
        replayed = {r.seq: r for r in j.replay()}
        assert sorted(replayed) == list(range(1, j.last_seq + 1))
        for seq, (kind, digest) in reported.items():
            record = replayed[seq]
            assert record.kind == kind
            assert hashlib.sha256(record.payload).hexdigest() == digest
        assert j.append(5, b"after the crash") == j.last_seq
    assert len(_segments(directory)) > 1


def test_directory_is_created(tmp_path: Path) -> None:
    d = tmp_path / "a" / "b"
    with Journal(d) as j:
        assert j.last_seq == 0
        assert list(j.replay()) == []
    assert (d / segment_name(1)).exists()
    shutil.rmtree(d)
