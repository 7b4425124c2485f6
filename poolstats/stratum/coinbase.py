"""A coinbase transaction split around the extranonce, as stratum jobs carry it.

coinb1 + extranonce1 + extranonce2 + coinb2 is a complete legacy-serialised coinbase: one
input with the null outpoint whose scriptSig starts with the block height (BIP 34) and the
pool's tag and ends with the extranonce, and outputs paying the reward (plus, when the
template has one, the witness commitment output it gives). ``with_witness`` turns it into the
serialisation a block committing to witnesses carries.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

EXTRANONCE1_SIZE = 4
EXTRANONCE2_SIZE = 4
MAX_SCRIPT_SIG = 100  # consensus: a coinbase scriptSig is 2 to 100 bytes


def varint(n: int) -> bytes:
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + struct.pack("<H", n)
    if n <= 0xFFFFFFFF:
        return b"\xfe" + struct.pack("<I", n)
    return b"\xff" + struct.pack("<Q", n)


def script_number(n: int) -> bytes:
    """A script push of ``n`` as CScriptNum serialises it (what BIP 34 requires)."""
    if n == 0:
        return b"\x00"  # OP_0
    if 1 <= n <= 16:
        return bytes([0x50 + n])  # OP_1..OP_16
    raw = bytearray()
    value = abs(n)
    while value:
        raw.append(value & 0xFF)
        value >>= 8
    if raw[-1] & 0x80:
        raw.append(0x80 if n < 0 else 0)
    elif n < 0:
        raw[-1] |= 0x80
    return bytes([len(raw)]) + bytes(raw)


@dataclass(frozen=True)
class Output:
    value_sat: int
    script: bytes

    def serialise(self) -> bytes:
        return struct.pack("<q", self.value_sat) + varint(len(self.script)) + self.script


def split_coinbase(height: int, tag: bytes, outputs: list[Output]) -> tuple[bytes, bytes]:
    """(coinb1, coinb2) around ``EXTRANONCE1_SIZE + EXTRANONCE2_SIZE`` bytes of extranonce."""
    if len(tag) > 75:
        raise ValueError("the pool tag is at most 75 bytes (one direct push)")
    prefix = script_number(height) + (bytes([len(tag)]) + tag if tag else b"")
    script_len = len(prefix) + EXTRANONCE1_SIZE + EXTRANONCE2_SIZE
    if script_len > MAX_SCRIPT_SIG:
        raise ValueError(f"coinbase scriptSig of {script_len} bytes: the tag is too long")
    coinb1 = (
        struct.pack("<I", 1)  # version
        + b"\x01"  # one input
        + bytes(32)
        + b"\xff\xff\xff\xff"  # the null outpoint
        + varint(script_len)
        + prefix
    )
    coinb2 = (
        b"\xff\xff\xff\xff"  # sequence
        + varint(len(outputs))
        + b"".join(o.serialise() for o in outputs)
        + struct.pack("<I", 0)  # lock time
    )
    return coinb1, coinb2


#: The coinbase input's sequence in the jobs ``split_coinbase`` makes.
FINAL_SEQUENCE = 0xFFFFFFFF


def with_sequence(coinb2: bytes, sequence: int) -> bytes:
    """``coinb2`` (it starts with the coinbase input's sequence) with another sequence: the
    same payout under another merkle root, so a miner sees work it has not hashed yet. A
    coinbase's sequence means nothing to consensus (its lock time is 0: final whatever the
    sequence) and the transaction's size stays the same."""
    return struct.pack("<I", sequence) + coinb2[4:]


#: BIP 141's witness reserved value: the coinbase's one witness item, 32 bytes (zeros here).
WITNESS_RESERVED_VALUE = bytes(32)


def with_witness(coinbase: bytes) -> bytes:
    """A legacy-serialised coinbase in the witness serialisation (BIP 144): marker 0x00 and
    flag 0x01 after the version, and before the lock time its witness, one item holding the
    reserved value. A block whose coinbase commits to witnesses is invalid without it."""
    witness = b"\x01" + varint(len(WITNESS_RESERVED_VALUE)) + WITNESS_RESERVED_VALUE
    return coinbase[:4] + b"\x00\x01" + coinbase[4:-4] + witness + coinbase[-4:]
