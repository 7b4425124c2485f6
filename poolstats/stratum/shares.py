"""Checking one submitted share against the job it names: rebuild the coinbase, the merkle
root and the header, hash it, compare with the share's target and the network's.

Pure given ``now``. Refusals carry stratum's usual error codes so the session can answer
``[code, message, null]`` as miners expect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from poolstats.domain.block import (
    hash_value,
    header,
    merkle_root,
    rolled_version,
    sha256d,
    target_from_bits,
)

#: How far a share's ntime may run ahead of the server's clock: Bitcoin's own limit for a
#: block's time (two hours), so that a share that is a block is a valid block.
MAX_FUTURE_NTIME_S = 7200


class Code(IntEnum):
    """Stratum's error codes (as cgminer, bfgminer and ASIC firmware interpret them)."""

    OTHER = 20
    STALE = 21  # job not found, or no longer current
    DUPLICATE = 22
    LOW_DIFFICULTY = 23
    UNAUTHORIZED = 24
    NOT_SUBSCRIBED = 25


class ShareError(Exception):
    def __init__(self, code: Code, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Job:
    """One ``mining.notify``, with what the check needs in header byte order."""

    job_id: str
    prevhash: bytes  # header order (stratum sends it word-swapped)
    coinb1: bytes
    coinb2: bytes
    branch: tuple[bytes, ...]
    version: int
    nbits: int
    ntime: int
    # What a found block needs besides the share (the defaults suit jobs whose blocks are
    # never sent, as the static template's).
    height: int = 0
    reward_sat: int = 0  # what the coinbase pays: subsidy plus fees
    transactions: tuple[bytes, ...] = ()  # the block's other transactions, serialised
    witness: bool = False  # the coinbase commits to witnesses: the block carries its witness
    network_target: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "network_target", target_from_bits(self.nbits))


@dataclass(frozen=True)
class Submission:
    """The fields of ``mining.submit`` after parsing (extranonce2 as bytes, the rest ints)."""

    extranonce2: bytes
    ntime: int
    nonce: int
    version_bits: int = 0  # 0 unless the miner rolls version bits (BIP 310)


@dataclass(frozen=True)
class Checked:
    header: bytes
    coinbase: bytes  # the full coinbase transaction, for assembling a block
    hash_value: int
    is_block: bool  # meets the network target too


@dataclass
class JobShares:
    """The shares already seen for one job, to refuse a duplicate (the same work resubmitted
    under any connection: the key includes extranonce1)."""

    seen: set[tuple[bytes, bytes, int, int, int]] = field(default_factory=set)

    def add(self, key: tuple[bytes, bytes, int, int, int]) -> bool:
        if key in self.seen:
            return False
        self.seen.add(key)
        return True


def check(
    job: Job,
    extranonce1: bytes,
    extranonce2_size: int,
    sub: Submission,
    share_target: int,
    version_mask: int,
    now: int,
    shares: JobShares,
) -> Checked:
    """The share's header and whether it is a block; ``ShareError`` if it is refused."""
    if len(sub.extranonce2) != extranonce2_size:
        raise ShareError(
            Code.OTHER, f"extranonce2 must be {extranonce2_size} bytes, got {len(sub.extranonce2)}"
        )
    if not job.ntime <= sub.ntime <= now + MAX_FUTURE_NTIME_S:
        raise ShareError(Code.OTHER, "ntime out of range")
    try:
        version = rolled_version(job.version, sub.version_bits, version_mask)
    except ValueError as exc:
        raise ShareError(Code.OTHER, str(exc)) from None
    coinbase = job.coinb1 + extranonce1 + sub.extranonce2 + job.coinb2
    root = merkle_root(sha256d(coinbase), list(job.branch))
    head = header(version, job.prevhash, root, sub.ntime, job.nbits, sub.nonce)
    value = hash_value(head)
    if value > share_target:
        raise ShareError(Code.LOW_DIFFICULTY, "low difficulty share")
    key = (extranonce1, sub.extranonce2, sub.ntime, sub.nonce, version)
    if not shares.add(key):
        raise ShareError(Code.DUPLICATE, "duplicate share")
    return Checked(head, coinbase, value, value <= job.network_target)
