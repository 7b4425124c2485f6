"""A node's ``getblocktemplate`` answer as stratum jobs, and a found share back into the block
the node is sent (BIP 22/23, in Bitcoin Core's format). Pure: no I/O.

A template is checked and decoded once, when it arrives (hex to bytes, hashes to header
order, the merkle branch); each job made from it only adds the coinbase and the time. A
template that is malformed, or needs a rule the pool does not implement (a ``!`` rule other
than segwit, such as signet's), is a ``ValueError`` naming the field: mining it could only
produce invalid blocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from poolstats.domain.block import merkle_branch, target_from_bits
from poolstats.domain.earnings import MAX_MONEY_SAT
from poolstats.domain.field_error import field_problem
from poolstats.stratum.coinbase import Output, split_coinbase, varint, with_witness
from poolstats.stratum.shares import Job

#: What the pool asks templates for, and the required ("!") rules it implements.
RULES = ("segwit",)
#: BIP 141's commitment output script: OP_RETURN, a 36-byte push, 0xaa21a9ed, 32 bytes.
WITNESS_COMMITMENT_HEADER = bytes.fromhex("6a24aa21a9ed")
WITNESS_COMMITMENT_SIZE = 38


class _Transaction(msgspec.Struct):
    data: str  # the serialised transaction (with its witness), hex
    txid: str  # display order (byte-reversed)


class _Answer(msgspec.Struct):
    version: int
    previousblockhash: str
    transactions: list[_Transaction]
    coinbasevalue: int
    bits: str
    height: int
    mintime: int
    rules: list[str] = msgspec.field(default_factory=list)
    longpollid: str | None = None
    default_witness_commitment: str | None = None


@dataclass(frozen=True)
class BlockTemplate:
    previousblockhash: str  # as the node shows it: a change means a new block
    prevhash: bytes  # header order
    version: int
    nbits: int
    height: int
    mintime: int  # a block's time may not be earlier
    reward_sat: int  # coinbasevalue: subsidy plus the transactions' fees
    transactions: tuple[bytes, ...]
    branch: tuple[bytes, ...]
    witness_commitment: bytes | None  # the commitment output's script, when there is one
    longpollid: str | None


def parse_template(result: Any) -> BlockTemplate:
    """The checked template, or ``ValueError`` naming the field at fault."""
    try:
        t = msgspec.convert(result, _Answer)
    except msgspec.ValidationError as exc:
        field, problem = field_problem(exc)
        raise ValueError(f"getblocktemplate: {field or 'answer'}: {problem}") from None
    unknown = [r for r in t.rules if r.startswith("!") and r[1:] not in RULES]
    if unknown:
        raise ValueError(f"getblocktemplate: rules: {unknown[0]} is required and not supported")
    if not 0 <= t.version <= 0xFFFFFFFF:
        raise ValueError(f"getblocktemplate: version: {t.version} is not a 32-bit version")
    if t.height < 1:
        raise ValueError(f"getblocktemplate: height: {t.height} is not a block height")
    if not 0 <= t.coinbasevalue <= MAX_MONEY_SAT:
        raise ValueError(f"getblocktemplate: coinbasevalue: {t.coinbasevalue} out of range")
    if t.mintime < 0:
        raise ValueError(f"getblocktemplate: mintime: {t.mintime} is negative")
    nbits = int.from_bytes(_hex("bits", t.bits, 4), "big")
    try:
        target_from_bits(nbits)
    except ValueError as exc:
        raise ValueError(f"getblocktemplate: bits: {exc}") from None
    commitment = None
    if t.default_witness_commitment is not None:
        commitment = _hex("default_witness_commitment", t.default_witness_commitment)
        if (
            len(commitment) != WITNESS_COMMITMENT_SIZE
            or commitment[:6] != WITNESS_COMMITMENT_HEADER
        ):
            raise ValueError(
                "getblocktemplate: default_witness_commitment: not a BIP 141 commitment script"
            )
    txids = [
        _hex(f"transactions[{i}].txid", tx.txid, 32)[::-1] for i, tx in enumerate(t.transactions)
    ]
    return BlockTemplate(
        previousblockhash=t.previousblockhash,
        prevhash=_hex("previousblockhash", t.previousblockhash, 32)[::-1],
        version=t.version,
        nbits=nbits,
        height=t.height,
        mintime=t.mintime,
        reward_sat=t.coinbasevalue,
        transactions=tuple(
            _hex(f"transactions[{i}].data", tx.data) for i, tx in enumerate(t.transactions)
        ),
        branch=tuple(merkle_branch(txids)),
        witness_commitment=commitment,
        longpollid=t.longpollid,
    )


def _hex(field: str, text: str, size: int | None = None) -> bytes:
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise ValueError(f"getblocktemplate: {field}: not hexadecimal") from None
    if size is not None and len(raw) != size:
        raise ValueError(f"getblocktemplate: {field}: {size} bytes expected, got {len(raw)}")
    return raw


def job_of(template: BlockTemplate, job_id: str, now: int, tag: bytes, payout: bytes) -> Job:
    """The template's work as a job: a coinbase paying ``coinbasevalue`` to the ``payout``
    script (and the witness commitment, when the template has one), ntime no earlier than
    the template's ``mintime``."""
    outputs = [Output(template.reward_sat, payout)]
    if template.witness_commitment is not None:
        outputs.append(Output(0, template.witness_commitment))
    coinb1, coinb2 = split_coinbase(template.height, tag, outputs)
    return Job(
        job_id,
        template.prevhash,
        coinb1,
        coinb2,
        template.branch,
        template.version,
        template.nbits,
        max(template.mintime, now),
        height=template.height,
        reward_sat=template.reward_sat,
        transactions=template.transactions,
        witness=template.witness_commitment is not None,
    )


def assemble_block(header: bytes, coinbase: bytes, job: Job) -> bytes:
    """The serialised block: the header, the transaction count, the coinbase (with its
    witness when the job commits to witnesses) and the template's transactions."""
    first = with_witness(coinbase) if job.witness else coinbase
    return header + varint(1 + len(job.transactions)) + first + b"".join(job.transactions)
