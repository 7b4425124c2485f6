"""Header arithmetic against real blocks: the genesis block and mainnet block 125552.

The expected hashes, merkle roots and fields are the blocks' published values (any block
explorer, or ``bitcoin-cli getblockheader``); nothing here is computed by the code under test
to check itself.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from poolstats.domain.block import (
    DIFF1_TARGET,
    difficulty_of,
    display_hash,
    hash_value,
    header,
    merkle_branch,
    merkle_root,
    merkle_root_of,
    prevhash_from_stratum,
    prevhash_to_stratum,
    rolled_version,
    sha256d,
    target_from_bits,
    target_of,
)

GENESIS_COINBASE = bytes.fromhex(
    "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff4d04"
    "ffff001d0104455468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e20"
    "6272696e6b206f66207365636f6e64206261696c6f757420666f722062616e6b73ffffffff0100f2052a01"
    "000000434104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4c"
    "ef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5fac00000000"
)
GENESIS_MERKLE = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"
GENESIS_HASH = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"

# Block 125552 (2011-05-21): four transactions.
B_VERSION, B_TIME, B_BITS, B_NONCE = 1, 1305998791, 0x1A44B9F2, 2504433986
B_PREV = "00000000000008a3a41b85b8b29ad444def299fee21793cd8b9e567eab02cd81"
B_MERKLE = "2b12fcf1b09288fcaff797d71e950e71ae42b91e8bdb2304758dfcffc2b620e3"
B_HASH = "00000000000000001e8d6829a8a21adc5d38d0a473b144b6765798e61f98bd1d"
B_TXIDS = [
    "51d37bdd871c9e1f4d5541be67a6ab625e32028744d7d4609d0c37747b40cd2d",
    "60c25dda8d41f8d3d7d5c6249e2ea1b05a25bf7ae2ad6d904b512b31f997e1a1",
    "01f314cdd8566d3e5dbdd97de2d9fbfbfd6873e916a00d48758282cbb81a45b9",
    "b519286a1040da6ad83c783eb2872659eaf57b1bec088e614776ffe7dc8f6d01",
]


def internal(display: str) -> bytes:
    return bytes.fromhex(display)[::-1]


def test_the_genesis_coinbase_is_its_merkle_root_and_its_header_hashes_right() -> None:
    txid = sha256d(GENESIS_COINBASE)
    assert display_hash(txid) == GENESIS_MERKLE
    assert merkle_root(txid, []) == txid
    h = header(1, bytes(32), txid, 1231006505, 0x1D00FFFF, 2083236893)
    assert display_hash(sha256d(h)) == GENESIS_HASH
    assert hash_value(h) <= target_from_bits(0x1D00FFFF) == DIFF1_TARGET


def test_block_125552_merkle_root_header_and_proof_of_work() -> None:
    txids = [internal(t) for t in B_TXIDS]
    root = merkle_root_of(txids)
    assert display_hash(root) == B_MERKLE
    assert merkle_root(txids[0], merkle_branch(txids[1:])) == root
    h = header(B_VERSION, internal(B_PREV), root, B_TIME, B_BITS, B_NONCE)
    assert display_hash(sha256d(h)) == B_HASH
    assert hash_value(h) <= target_from_bits(B_BITS)
    # one nonce over, the header misses the network target
    wrong = header(B_VERSION, internal(B_PREV), root, B_TIME, B_BITS, B_NONCE + 1)
    assert hash_value(wrong) > target_from_bits(B_BITS)


def test_stratum_prevhash_swaps_each_word() -> None:
    prev = internal(B_PREV)
    sent = prevhash_to_stratum(prev)
    assert sent[:8] == prev[:4][::-1].hex()
    assert prevhash_from_stratum(sent) == prev
    with pytest.raises(ValueError, match="32 bytes"):
        prevhash_from_stratum("00" * 31)


def test_targets_are_exact_for_fractional_difficulties() -> None:
    assert target_of(1) == DIFF1_TARGET
    assert target_of(Fraction(1, 10000)) == DIFF1_TARGET * 10000
    assert target_of(3) == DIFF1_TARGET // 3
    assert target_of(Fraction(1, 2**40)) == (1 << 256) - 1  # capped at the largest hash
    with pytest.raises(ValueError):
        target_of(0)
    assert difficulty_of(DIFF1_TARGET // 4) == 4


@given(st.integers(1, 2**64), st.integers(1, 2**20))
def test_a_hash_meets_a_difficulty_exactly_when_its_difficulty_is_at_least_that(
    hash_int: int, denominator: int
) -> None:
    d = Fraction(2**32, denominator)
    assert (hash_int <= target_of(d)) == (difficulty_of(hash_int) >= d)


def test_compact_bits_decode_as_bitcoin_core_does() -> None:
    assert target_from_bits(0x1D00FFFF) == 0xFFFF << 208
    assert target_from_bits(0x1A44B9F2) == 0x44B9F2 << (8 * 23)
    assert target_from_bits(0x207FFFFF) == 0x7FFFFF << (8 * 29)  # regtest
    assert target_from_bits(0x03123456) == 0x123456
    assert target_from_bits(0x02123456) == 0x1234
    with pytest.raises(ValueError, match="negative"):
        target_from_bits(0x04923456)
    with pytest.raises(ValueError, match="overflows"):
        target_from_bits(0xFF123456)


def test_version_rolling_keeps_bits_outside_the_mask() -> None:
    mask = 0x1FFFE000  # BIP 320's general-purpose bits
    assert rolled_version(0x20000000, 0x00002000, mask) == 0x20002000
    assert rolled_version(0x20000000, 0, mask) == 0x20000000
    with pytest.raises(ValueError, match="outside the mask"):
        rolled_version(0x20000000, 0x40000000, mask)


@given(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=40))
def test_a_branch_gives_the_same_root_as_the_whole_tree(txids: list[bytes]) -> None:
    """Checked against a plain tree computed level by level here."""
    level = list(txids)
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [sha256d(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    assert merkle_root(txids[0], merkle_branch(txids[1:])) == level[0]
