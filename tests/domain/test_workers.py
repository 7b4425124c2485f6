"""Worker names and ids as BTC.COM's pool made them."""

from __future__ import annotations

import pytest

from poolstats.domain.workers import normalize_worker_name, split_login, worker_id


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("55x2", 5325119314078704790),
        ("55x19", -1956288636539691820),
        ("55x18", 4762776105132274421),
    ],
)
def test_worker_id_matches_btccom_vectors(name: str, expected: int) -> None:
    assert worker_id(name) == expected


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("rig01", "rig01"),
        ("S19 #1!", "S191"),
        ("a-b.c_d:e|f^g/h", "a-b.c_d:e|f^g/h"),
        ("abcdefghijklmnopqrstuvwxyz", "abcdefghijklmnopqrst"),
        ("", "__default__"),
        ("ασικ", "__default__"),
        ("  x  ", "x"),
    ],
)
def test_names_keep_allowed_characters_and_20_of_them(raw: str, normalised: str) -> None:
    assert normalize_worker_name(raw) == normalised


def test_login_splits_on_the_first_dot() -> None:
    assert split_login("alice.rig.01") == ("alice", "rig.01")
    assert split_login("alice") == ("alice", "")
