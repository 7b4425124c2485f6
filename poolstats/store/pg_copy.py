"""PostgreSQL's binary COPY format written from numpy columns, without a Python object per
value.

Why: psycopg's ``Copy.write_row`` formats each row from a tuple of Python objects; for the
flush of a million workers building those tuples from numpy arrays and formatting them took
~3 s of client CPU, more than half of the flush. Here a chunk of rows is a numpy structured
array laid out as the format wants (per row an int16 field count; per field an int32 byte
length and the big-endian value), made by repeating one template row (the counts and
lengths) and filling each value column from a contiguous slice: ~0.2 s for those rows.

A text value has a length of its own, so text columns come last and each chunk is cut into
groups of rows whose text values have the same byte lengths: within a group every row has
one layout. Rows therefore leave in another order than given; COPY does not mind, and the
flush merges its staged rows by key, never by position.

Format: https://www.postgresql.org/docs/current/sql-copy.html (Binary Format).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

PgType = Literal["int8", "float8", "text"]
# A column: its type and its values, an array (for text, a list of str) with one per row, or
# one scalar for every row.
Column = tuple[PgType, Any]

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, no flags, no header extension
TRAILER = b"\xff\xff"
CHUNK_ROWS = 1 << 16  # ~15 MB of worker rows: bounded memory, and the server starts early
_NUMBER = {"int8": ">i8", "float8": ">f8"}
U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]


def binary_copy(columns: Sequence[Column], n: int, chunk_rows: int = CHUNK_ROWS) -> Iterator[bytes]:
    """``COPY .. FROM STDIN (FORMAT BINARY)`` data of ``n`` rows of ``columns`` (text ones
    last), in chunks: the signature first, the trailer last."""
    kinds = [t for t, _ in columns]
    numbers = [(t, v) for t, v in columns if t != "text"]
    if "text" in kinds[: len(numbers)]:
        raise ValueError("binary_copy: text columns must come after the others")
    for t, v in numbers:
        if not np.isscalar(v) and len(v) != n:
            raise ValueError(f"binary_copy: an {t} column has {len(v)} values for {n} rows")
    texts = [_text(v, n) for t, v in columns if t == "text"]
    template = np.zeros(1, dtype=[("n", ">i2")] + [
        f for i, (t, _) in enumerate(numbers) for f in ((f"l{i}", ">i4"), (f"v{i}", _NUMBER[t]))
    ])  # fmt: skip
    template["n"] = len(columns)
    for i in range(len(numbers)):
        template[f"l{i}"] = 8
    yield SIGNATURE
    for lo in range(0, n, chunk_rows):
        hi = min(lo + chunk_rows, n)
        fixed = np.repeat(template, hi - lo)
        for i, (_, v) in enumerate(numbers):
            fixed[f"v{i}"] = v if np.isscalar(v) else v[lo:hi]
        if not texts:
            yield fixed.tobytes()
            continue
        spans = [(b, s[lo:hi], ln[lo:hi]) for b, s, ln in texts]
        for rows, lengths in _groups([ln for _, _, ln in spans]):
            yield _with_texts(fixed, spans, rows, lengths).tobytes()
    yield TRAILER


def _text(values: str | Sequence[str], n: int) -> tuple[U8, I64, I64]:
    """A text column as its values' UTF-8 bytes end to end, with where each starts and its
    length: one ``join`` and one ``encode`` for the column, not one per value."""
    if isinstance(values, str):
        values = [values] * n
    if len(values) != n:
        raise ValueError(f"binary_copy: a text column has {len(values)} values for {n} rows")
    # Zero bytes separate the values: PostgreSQL's text never holds one.
    joined = np.frombuffer("\0".join(values).encode(), dtype=np.uint8)
    ends = np.flatnonzero(joined == 0)
    if n and len(ends) != n - 1:
        raise ValueError("binary_copy: a text value holds a zero byte")
    starts = np.concatenate(([0], ends + 1)).astype(np.int64) if n else np.zeros(0, np.int64)
    stops = np.concatenate((ends, [len(joined)])).astype(np.int64) if n else starts
    return joined, starts, stops - starts


def _groups(
    lengths: list[npt.NDArray[np.int64]],
) -> Iterator[tuple[npt.NDArray[np.int64] | None, list[int]]]:
    """(positions or None for all, text byte lengths) per group of rows whose text values
    have the same lengths."""
    key = np.zeros(len(lengths[0]), dtype=np.int64)
    for ln in lengths:  # a mixed-radix number of the lengths: equal keys, equal lengths
        key = key * (int(ln.max(initial=0)) + 1) + ln
    if len(key) == 0 or key.min() == key.max():
        yield None, [int(ln[0]) if len(ln) else 0 for ln in lengths]
        return
    order = np.argsort(key, kind="stable")
    ordered = key[order]
    bounds = [0, *(np.flatnonzero(ordered[1:] != ordered[:-1]) + 1).tolist(), len(key)]
    for lo, hi in itertools.pairwise(bounds):
        rows = order[lo:hi]
        yield rows, [int(ln[rows[0]]) for ln in lengths]


def _with_texts(
    fixed: npt.NDArray[Any],
    texts: list[tuple[U8, I64, I64]],
    rows: I64 | None,
    lengths: list[int],
) -> npt.NDArray[Any]:
    """Rows ``rows`` of ``fixed`` (None: all) followed by their text fields, each of the
    length given."""
    fields: list[tuple[str, str]] = [("fixed", f"V{fixed.dtype.itemsize}")]
    for i, k in enumerate(lengths):
        fields.append((f"l{i}", ">i4"))
        if k:  # an empty value is its length alone
            fields.append((f"v{i}", f"V{k}"))
    head = fixed.view(f"V{fixed.dtype.itemsize}")
    out = np.empty(len(fixed) if rows is None else len(rows), dtype=fields)
    out["fixed"] = head if rows is None else head[rows]
    for i, ((joined, starts, _), k) in enumerate(zip(texts, lengths, strict=True)):
        out[f"l{i}"] = k
        if k:
            first = starts if rows is None else starts[rows]
            part = joined[first[:, None] + np.arange(k)]
            out[f"v{i}"] = part.view(f"V{k}").reshape(-1)
    return out
