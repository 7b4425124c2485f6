"""``store.pg_copy``: what PostgreSQL reads back from the binary COPY data built with numpy is
exactly the columns given, whatever the text lengths, chunking and scalars."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest

from poolstats.store.pg_copy import Column, binary_copy


def copied(url: str, columns: list[Column], n: int, chunk_rows: int) -> list[tuple[object, ...]]:
    """The rows PostgreSQL stored from ``binary_copy``, in the order of the first column."""
    types = ", ".join(f"c{i} {t}" for i, (t, _) in enumerate(columns))
    with psycopg.connect(url) as conn:
        conn.execute(f"CREATE TEMPORARY TABLE t ({types})")
        with conn.cursor() as cur, cur.copy("COPY t FROM STDIN (FORMAT BINARY)") as copy:
            for chunk in binary_copy(columns, n, chunk_rows):
                copy.write(chunk)
        return conn.execute("SELECT * FROM t ORDER BY c0").fetchall()


@pytest.mark.parametrize("chunk_rows", [1, 7, 1000])
def test_every_value_arrives_as_given(pg_url: str, chunk_rows: int) -> None:
    n = 50
    rng = np.random.default_rng(3)
    ids = np.arange(n, dtype=np.int64) * -(2**40)  # negative, beyond 32 bits
    floats = rng.random(n) * 1e9
    names = [("é" * (i % 4)) + f"rig{i}" for i in range(n)]  # 1-3 lengths, 2-byte characters
    ips = ["" if i % 3 else f"10.0.{i}.1" for i in range(n)]  # empty and not
    columns: list[Column] = [
        ("int8", ids),
        ("float8", floats),
        ("int8", 17),
        ("float8", 0.5),
        ("text", names),
        ("text", ips),
        ("text", "same"),
    ]
    expected = sorted(
        (int(ids[i]), float(floats[i]), 17, 0.5, names[i], ips[i], "same") for i in range(n)
    )
    assert copied(pg_url, columns, n, chunk_rows) == expected


def test_numbers_alone_and_no_rows(pg_url: str) -> None:
    values = np.array([3, 1, 2], dtype=np.int64)
    assert copied(pg_url, [("int8", values), ("float8", 1.25)], 3, 2) == [
        (1, 1.25),
        (2, 1.25),
        (3, 1.25),
    ]
    assert copied(pg_url, [("int8", values[:0]), ("text", [])], 0, 2) == []


def test_bad_columns_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="text columns must come after"):
        list(binary_copy([("text", ["a"]), ("int8", np.zeros(1, np.int64))], 1))
    with pytest.raises(ValueError, match="2 values for 3 rows"):
        list(binary_copy([("int8", np.zeros(2, np.int64))], 3))
    with pytest.raises(ValueError, match="zero byte"):
        list(binary_copy([("text", ["a\0b", "c"])], 2))
