"""The share check: the genesis block submitted as a share, and shares mined here with
hashlib against an easy target."""

from __future__ import annotations

import hashlib
import struct
from fractions import Fraction

import pytest

from poolstats.domain.block import DIFF1_TARGET, display_hash, sha256d, target_of
from poolstats.stratum.shares import Code, Job, JobShares, ShareError, Submission, check
from tests.domain.test_block import GENESIS_COINBASE, GENESIS_HASH

NO_ROLLING = 0
MASK = 0x1FFFE000
# The genesis coinbase's scriptSig starts at byte 42 (version 4, input count 1, outpoint 36,
# script length 1): its first 8 bytes stand in for extranonce1 + extranonce2.
EN1, EN2 = GENESIS_COINBASE[42:46], GENESIS_COINBASE[46:50]
GENESIS_JOB = Job(
    job_id="1",
    prevhash=bytes(32),
    coinb1=GENESIS_COINBASE[:42],
    coinb2=GENESIS_COINBASE[50:],
    branch=(),
    version=1,
    nbits=0x1D00FFFF,
    ntime=1231006505,
)
GENESIS_SUBMIT = Submission(EN2, 1231006505, 2083236893)
NOW = 1231006505


def test_the_genesis_block_is_a_share_and_a_block() -> None:
    got = check(GENESIS_JOB, EN1, 4, GENESIS_SUBMIT, target_of(1), NO_ROLLING, NOW, JobShares())
    assert display_hash(sha256d(got.header)) == GENESIS_HASH
    assert got.coinbase == GENESIS_COINBASE
    assert got.is_block and got.hash_value <= DIFF1_TARGET


def test_refusals_carry_stratum_codes() -> None:
    shares = JobShares()
    check(GENESIS_JOB, EN1, 4, GENESIS_SUBMIT, target_of(1), NO_ROLLING, NOW, shares)
    cases = [
        (GENESIS_SUBMIT, Code.DUPLICATE, "duplicate share"),
        (Submission(EN2, 1231006505, 2083236894), Code.LOW_DIFFICULTY, "low difficulty share"),
        (Submission(EN2[:3], 1231006505, 1), Code.OTHER, "extranonce2 must be 4 bytes"),
        (Submission(EN2, 1231006504, 1), Code.OTHER, "ntime out of range"),
        (Submission(EN2, NOW + 7201, 1), Code.OTHER, "ntime out of range"),
        (Submission(EN2, NOW, 1, 0x00002000), Code.OTHER, "outside the mask"),
    ]
    for sub, code, message in cases:
        with pytest.raises(ShareError, match=message) as refused:
            check(GENESIS_JOB, EN1, 4, sub, target_of(1), NO_ROLLING, NOW, shares)
        assert refused.value.code is code
    # the same work from another connection (another extranonce1) is not a duplicate of it,
    # but the header differs, so it has to meet the target on its own
    with pytest.raises(ShareError) as other:
        check(GENESIS_JOB, b"\0\0\0\1", 4, GENESIS_SUBMIT, target_of(1), NO_ROLLING, NOW, shares)
    assert other.value.code is Code.LOW_DIFFICULTY


def test_mined_shares_and_blocks_against_an_easy_target() -> None:
    """Mine with hashlib at share difficulty 2**-20 under a network difficulty of 2**-16
    (nbits 0x1f00ffff), rolling version bits too; each verdict is checked against a hash
    computed here from the header bytes."""
    job = Job(
        job_id="7",
        prevhash=bytes(range(32)),
        coinb1=bytes.fromhex("01000000010000000000000000000000000000000000000000000000000000"
                             "000000000000ffffffff0d03a0860104"),
        coinb2=bytes.fromhex("ffffffff0100f2052a010000001976a914" + "11" * 20 + "88ac00000000"),
        branch=(sha256d(b"tx1"), sha256d(b"tx2")),
        version=0x20000000,
        nbits=0x1F00FFFF,
        ntime=1_800_000_000,
    )  # fmt: skip
    share_target = target_of(Fraction(1, 2**20))
    assert job.network_target == DIFF1_TARGET << 16
    shares, found, blocks = JobShares(), 0, 0
    for nonce in range(200_000):
        version_bits = (nonce % 4) << 13
        sub = Submission(b"\xab\xcd\xef\x01", 1_800_000_010, nonce, version_bits)
        coinbase = job.coinb1 + b"\x00\x00\x00\x2a" + sub.extranonce2 + job.coinb2
        root = sha256d(coinbase)
        for sibling in job.branch:
            root = sha256d(root + sibling)
        head = struct.pack("<I", 0x20000000 | version_bits) + job.prevhash + root
        head += struct.pack("<III", sub.ntime, job.nbits, nonce)
        value = int.from_bytes(hashlib.sha256(hashlib.sha256(head).digest()).digest(), "little")
        if value > share_target:
            if nonce < 3:  # a few misses are refused too (a check per nonce would be slow)
                with pytest.raises(ShareError) as low:
                    check(
                        job, b"\x00\x00\x00\x2a", 4, sub, share_target, MASK, 1_800_000_000, shares
                    )
                assert low.value.code is Code.LOW_DIFFICULTY
            continue
        got = check(job, b"\x00\x00\x00\x2a", 4, sub, share_target, MASK, 1_800_000_000, shares)
        assert (got.header, got.hash_value) == (head, value)
        assert got.is_block == (value <= DIFF1_TARGET << 16)
        found += 1
        blocks += got.is_block
        if blocks >= 2 and found > blocks:
            break
    assert blocks >= 2 and found > blocks
