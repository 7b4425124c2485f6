"""Bitcoin block-header arithmetic for checking stratum shares: pure, exact, no I/O.

A miner proves work by finding a nonce (and an extranonce2, an ntime, rolled version bits)
whose 80-byte header, double-SHA-256'd and read as a little-endian integer, is at most the
share's target. Everything here is integers and bytes: a target is ``DIFF1_TARGET /
difficulty`` rounded down, computed exactly even for fractional difficulties such as 0.0001.

Byte orders, since they are the classic trap:
- hashes are shown (block explorers, RPC) as the byte-reversed SHA-256 output;
- header fields are little-endian; stratum sends version, nbits and ntime as big-endian hex;
- stratum's ``prevhash`` is the header's 32 bytes with each 4-byte word byte-swapped;
- merkle branches and coinbase parts are sent in the header's (internal) byte order.
"""

from __future__ import annotations

import hashlib
import struct
from fractions import Fraction

#: The target of difficulty 1 ("pool difficulty", bdiff): 0x00000000FFFF0000...0000.
DIFF1_TARGET = 0xFFFF << 208
MAX_TARGET = (1 << 256) - 1
HEADER_BYTES = 80
_U32 = struct.Struct("<I")


def sha256d(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def target_of(difficulty: Fraction | int) -> int:
    """The largest header hash a share of ``difficulty`` may have: ``DIFF1_TARGET /
    difficulty`` rounded down, exactly (a float would misjudge shares at the boundary)."""
    # Integer floor division of the numerator and denominator: exact, and (once per share)
    # a few times cheaper than dividing Fractions.
    diff = difficulty if type(difficulty) is Fraction else Fraction(difficulty)
    if diff.numerator <= 0:  # a Fraction's denominator is always positive
        raise ValueError(f"difficulty must be > 0, got {difficulty}")
    return min(DIFF1_TARGET * diff.denominator // diff.numerator, MAX_TARGET)


def difficulty_of(hash_value: int) -> Fraction:
    """The difficulty a hash achieves: ``DIFF1_TARGET / hash`` (what the share is worth at
    most; a zero hash cannot happen and is refused)."""
    if hash_value <= 0:
        raise ValueError("a header hash is never zero")
    return Fraction(DIFF1_TARGET, hash_value)


def target_from_bits(bits: int) -> int:
    """The network target from the header's compact ``nbits`` (Bitcoin Core's SetCompact),
    refusing the negative and overflowing encodings consensus rejects."""
    exponent, mantissa = bits >> 24, bits & 0x7FFFFF
    if bits & 0x800000 and mantissa:
        raise ValueError(f"nbits {bits:#010x} is negative")
    if mantissa and (
        exponent > 34
        or (mantissa > 0xFF and exponent > 33)
        or (mantissa > 0xFFFF and exponent > 32)
    ):
        raise ValueError(f"nbits {bits:#010x} overflows 256 bits")
    if exponent <= 3:
        return mantissa >> (8 * (3 - exponent))
    return mantissa << (8 * (exponent - 3))


def hash_value(header: bytes) -> int:
    """The header's proof of work as the integer compared with targets."""
    if len(header) != HEADER_BYTES:
        raise ValueError(f"a header is {HEADER_BYTES} bytes, got {len(header)}")
    return int.from_bytes(sha256d(header), "little")


def display_hash(digest: bytes) -> str:
    """A double-SHA-256 digest as explorers and RPC show it (byte-reversed hex)."""
    return digest[::-1].hex()


def merkle_root(coinbase_txid: bytes, branch: list[bytes]) -> bytes:
    """The root from the coinbase transaction's hash and stratum's merkle branch (the
    coinbase is always the first leaf, so each step hashes the running value on the left)."""
    sha256 = hashlib.sha256  # the per-share hot loop: one look-up, no call per step
    root = coinbase_txid
    for sibling in branch:
        root = sha256(sha256(root + sibling).digest()).digest()
    return root


def merkle_branch(txids: list[bytes]) -> list[bytes]:
    """Stratum's branch for the first leaf of a tree whose other leaves are ``txids`` (the
    block's transactions after the coinbase, internal byte order)."""
    branch: list[bytes] = []
    level = [b"", *txids]  # the coinbase's place, filled by the miner
    while len(level) > 1:
        branch.append(level[1])
        if len(level) % 2:
            level.append(level[-1])  # an odd level pairs its last hash with itself
        level = [b""] + [sha256d(level[i] + level[i + 1]) for i in range(2, len(level), 2)]
    return branch


def merkle_root_of(txids: list[bytes]) -> bytes:
    """The root of a whole block's transaction hashes (internal order), coinbase first."""
    if not txids:
        raise ValueError("a block has at least its coinbase")
    return merkle_root(txids[0], merkle_branch(txids[1:]))


def prevhash_from_stratum(prevhash_hex: str) -> bytes:
    """Stratum's prevhash (each 4-byte word byte-swapped) as the header's 32 bytes."""
    raw = bytes.fromhex(prevhash_hex)
    if len(raw) != 32:
        raise ValueError(f"prevhash must be 32 bytes, got {len(raw)}")
    return struct.pack("<8I", *struct.unpack(">8I", raw))  # each word's bytes reversed


def prevhash_to_stratum(header_prevhash: bytes) -> str:
    """The inverse of ``prevhash_from_stratum`` (the swap is its own inverse)."""
    return struct.pack("<8I", *struct.unpack(">8I", header_prevhash)).hex()


def rolled_version(base: int, submitted: int, mask: int) -> int:
    """BIP 310 version rolling: the miner may change only the bits in ``mask``; the others
    come from the job. ``submitted`` bits outside the mask are refused."""
    if submitted & ~mask:
        raise ValueError(f"version bits {submitted:08x} outside the mask {mask:08x}")
    return (base & ~mask) | (submitted & mask)


def header(version: int, prevhash: bytes, root: bytes, ntime: int, nbits: int, nonce: int) -> bytes:
    """The 80-byte header from its fields (integers, and 32-byte hashes in internal order)."""
    if len(prevhash) != 32 or len(root) != 32:
        raise ValueError("prevhash and merkle root are 32 bytes each")
    return struct.pack("<I32s32sIII", version & 0xFFFFFFFF, prevhash, root, ntime, nbits, nonce)
