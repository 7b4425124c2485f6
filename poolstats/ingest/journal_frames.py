"""The journal's records on disk: their framing, and reading a segment past damaged bytes.

A segment is a sequence of records, each a 24-byte little-endian header then the payload::

    magic  4s   b"PSJ\\x01"
    seq    u64  1, 2, 3, ... contiguous across segments
    kind   u8   opaque to the journal (the caller's payload format)
    pad    3x
    length u32  payload bytes
    crc    u32  zlib.crc32 of the payload, continued over the 20 header bytes before it

:func:`scan` walks one segment and tells three things apart, because they call for different
answers:

- a record (``Frame``);
- damage (``Damage``): bytes that do not parse, *followed by an intact record* whose seq
  follows. Acknowledged records lie after it, so the bad bytes are skipped, never the records
  behind them; the seqs in the gap are lost and said so. At the end of an older segment the
  next segment's name says which seqs the bad bytes held;
- a torn tail (``Torn``): bad bytes with nothing intact after them, in the newest segment. A
  crash mid-write leaves exactly that (older segments are synced before the next one starts),
  and no record in it was acknowledged.

Used by the journal itself (opening, replay) and by ``poolstats backup``, which reads the
segments of a running node without its lock.
"""

from __future__ import annotations

import mmap
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

MAGIC = b"PSJ\x01"
PREFIX = struct.Struct("<4sQB3xI")  # magic, seq, kind, pad, length: the CRC'd header part
CRC = struct.Struct("<I")
HEADER_SIZE = PREFIX.size + CRC.size  # 24
SEGMENT_SUFFIX = ".wal"
DAMAGED_DIR = "damaged"


class JournalError(Exception):
    """The journal cannot do what was asked (locked by another process, closed, failed, range)."""


class JournalCorrupt(JournalError):
    """Acknowledged records are missing or misplaced; carrying on would lose data silently."""


@dataclass(frozen=True)
class Frame:
    seq: int
    kind: int
    payload: bytes | None  # None when read without verifying (skipped during replay)
    offset: int
    size: int  # header + payload bytes on disk


@dataclass(frozen=True)
class Damage:
    """Bytes ``[offset, offset + length)`` of ``segment`` that hold no intact record."""

    segment: str
    offset: int
    length: int
    first_lost: int  # seqs first_lost..last_lost were in these bytes (none when last < first)
    last_lost: int
    reason: str

    @property
    def lost(self) -> int:
        return max(0, self.last_lost - self.first_lost + 1)

    def seqs_text(self) -> str:
        if not self.lost:
            return "no record lost (bytes between records)"
        if self.lost == 1:
            return f"record seq {self.first_lost} lost"
        return f"records seq {self.first_lost}..{self.last_lost} lost"


@dataclass(frozen=True)
class Torn:
    offset: int
    reason: str


@dataclass(frozen=True)
class _Bad:
    reason: str


def segment_name(first_seq: int) -> str:
    """File name of the segment whose first record has ``first_seq``."""
    return f"{first_seq:020d}{SEGMENT_SUFFIX}"


def read_frame(
    f: BinaryIO, offset: int, size: int, expected_seq: int, verify: bool
) -> Frame | _Bad | None:
    """Parse the record at ``offset``; None at a clean end of file.

    With ``verify`` False the payload is seeked over, not read (replay skipping old records),
    so only the framing and the seq are checked. A verified frame with the wrong seq comes
    back as a Frame: the caller decides what a misplaced intact record means.
    """
    if offset == size:
        return None
    if size - offset < HEADER_SIZE:
        return _Bad(f"{size - offset} trailing bytes, shorter than a header")
    f.seek(offset)
    header = f.read(HEADER_SIZE)
    if len(header) < HEADER_SIZE:
        return _Bad("file shrank while reading")
    magic, seq, kind, length = PREFIX.unpack_from(header)
    if magic != MAGIC:
        return _Bad(f"bad magic {magic!r}")
    if length > size - offset - HEADER_SIZE:
        return _Bad(f"payload length {length} runs past the end of the file")
    if not verify:
        if seq != expected_seq:
            return _Bad(f"seq {seq} where {expected_seq} was expected")
        return Frame(seq, kind, None, offset, HEADER_SIZE + length)
    payload = f.read(length)
    if len(payload) < length:
        return _Bad("file shrank while reading")
    (crc,) = CRC.unpack_from(header, PREFIX.size)
    if zlib.crc32(header[: PREFIX.size], zlib.crc32(payload)) != crc:
        return _Bad("CRC mismatch")
    return Frame(seq, kind, payload, offset, HEADER_SIZE + length)


def _fits(offset: int, gap_end: int, expected: int, seq: int) -> bool:
    """Could the bytes from ``offset`` to ``gap_end`` have held records expected..seq-1?

    Each takes a header at least: a record claiming a seq further on than the gap has room
    for is not the one that follows, and is not taken as the place to resume.
    """
    return seq >= expected and gap_end - offset >= HEADER_SIZE * (seq - expected)


def next_intact(
    f: BinaryIO, start: int, size: int, expected: int, end_seq: int | None
) -> tuple[int, int] | None:
    """(offset, seq) of the first CRC-valid record after ``start`` whose seq follows.

    "Follows": at least ``expected``, below ``end_seq`` (the next segment's first seq) when
    given, and with room for the records in between. The magic is found by ``mmap.find``;
    a payload that happens to contain it fails the CRC.
    """
    if size - start <= HEADER_SIZE:
        return None
    with mmap.mmap(f.fileno(), size, access=mmap.ACCESS_READ) as mm:
        pos = mm.find(MAGIC, start + 1)
        while pos != -1 and pos + HEADER_SIZE <= size:
            _, seq, _, length = PREFIX.unpack_from(mm, pos)
            end = pos + HEADER_SIZE + length
            if (
                end <= size
                and _fits(start, pos, expected, seq)
                and (end_seq is None or seq < end_seq)
            ):
                (crc,) = CRC.unpack_from(mm, pos + PREFIX.size)
                body = zlib.crc32(mm[pos + HEADER_SIZE : end])
                if zlib.crc32(mm[pos : pos + PREFIX.size], body) == crc:
                    return pos, int(seq)
            pos = mm.find(MAGIC, pos + 1)
    return None


def scan(
    path: Path, f: BinaryIO, first: int, verify_from: int, end_seq: int | None
) -> Iterator[Frame | Damage | Torn]:
    """Walk segment ``path`` (open as ``f``, first seq ``first``) from its start.

    Records before seq ``verify_from`` are only framed, not CRC-checked (replay skipping what
    a checkpoint holds); at the first sign of trouble they are read in full. ``end_seq`` is
    the next segment's first seq, None for the newest segment (where bad bytes with nothing
    intact after them are a torn tail). Raises ``JournalCorrupt`` for an intact record that
    does not follow (a seq gone backwards, or records missing without bytes to hold them).
    """
    size = os.fstat(f.fileno()).st_size
    expected, offset = first, 0
    # (offset, seq) of the frame just read without its CRC: a damaged length there would
    # have moved ``offset`` to the wrong place, so trouble right after it sends us back to it
    unverified: tuple[int, int] | None = None
    while True:
        if end_seq is not None and expected >= end_seq and offset < size:
            yield Damage(path.name, offset, size - offset, expected, expected - 1, "extra bytes")
            return
        frame = read_frame(f, offset, size, expected, verify=expected >= verify_from)
        if isinstance(frame, _Bad) and expected < verify_from:
            frame = read_frame(f, offset, size, expected, verify=True)
        if unverified is not None and not (isinstance(frame, Frame) and frame.seq == expected):
            back_offset, back_seq = unverified
            again = read_frame(f, back_offset, size, back_seq, verify=True)
            if not isinstance(again, Frame) or again.seq != back_seq:
                # the previous record is itself damaged: search onwards from it, not from
                # where its length pointed (already yielded unverified; reported lost below)
                offset, expected, frame = back_offset, back_seq, again
        unverified = None
        if isinstance(frame, Frame) and frame.payload is None:
            unverified = (offset, expected)
        if frame is None:
            if end_seq is not None and expected < end_seq:
                raise JournalCorrupt(
                    f"{path}: ends at seq {expected - 1} but the next segment starts at seq "
                    f"{end_seq}: records are missing"
                )
            return
        if isinstance(frame, Frame):
            if frame.seq != expected:
                raise JournalCorrupt(
                    f"{path} offset {offset}: intact record with seq {frame.seq} where "
                    f"{expected} was expected; not a torn write or damage, refusing to skip it"
                )
            yield frame
            offset += frame.size
            expected += 1
            continue
        reason = frame.reason
        found = next_intact(f, offset, size, expected, end_seq)
        if found is not None:
            at, seq = found
            yield Damage(path.name, offset, at - offset, expected, seq - 1, reason)
            offset, expected = at, seq
            continue
        if end_seq is None:
            yield Torn(offset, reason)
            return
        if not _fits(offset, size, expected, end_seq):
            raise JournalCorrupt(
                f"{path} offset {offset}: {size - offset} bytes cannot hold records "
                f"{expected}..{end_seq - 1} ({reason}): records are missing"
            )
        yield Damage(path.name, offset, size - offset, expected, end_seq - 1, reason)
        return


def keep_damaged(directory: Path, f: BinaryIO, damage: Damage, fsync: bool = True) -> Path:
    """Copy the damaged bytes to ``directory/damaged/<segment>-<offset>.bin``, durably.

    Done before the journal reads on past them, so they can be inspected (or repaired by
    hand) whatever happens to the segment later. An existing copy of the same size is kept.
    """
    folder = directory / DAMAGED_DIR
    stem = damage.segment.removesuffix(SEGMENT_SUFFIX)
    target = folder / f"{stem}-{damage.offset}.bin"
    if target.exists() and target.stat().st_size == damage.length:
        return target
    folder.mkdir(exist_ok=True)
    f.seek(damage.offset)
    data = f.read(damage.length)
    tmp = target.with_suffix(".tmp")
    with open(tmp, "wb") as out:
        out.write(data)
        out.flush()
        if fsync:
            os.fsync(out.fileno())
    os.replace(tmp, target)
    if fsync:
        for d in (folder, directory):
            fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    return target
