"""A template as jobs and a share back into a block, without a node: serialisations are
compared with transactions serialised by hand in ``fake_bitcoind`` (BIP 144)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from poolstats.stratum.coinbase import EXTRANONCE1_SIZE, EXTRANONCE2_SIZE, with_witness
from poolstats.stratum.getblocktemplate import assemble_block, job_of, parse_template
from tests.stratum.fake_bitcoind import (
    FakeBitcoind,
    Reader,
    Tx,
    bip34_height,
    merkle,
    sha256d,
)

NOW = 1_800_000_000
SCRIPT = bytes.fromhex("0014751e76e8199196d454941c45d1b3a323f1433bd6")
EXTRANONCE = bytes(range(EXTRANONCE1_SIZE + EXTRANONCE2_SIZE))


@pytest.fixture(scope="module")
def answer() -> Any:
    fake = FakeBitcoind(SCRIPT, 840_000, NOW)
    fake.close()  # only its template is wanted
    return fake.template()


def test_a_job_pays_the_template_reward_and_commitment_at_its_height(answer: Any) -> None:
    template = parse_template(answer)
    job = job_of(template, "7", NOW, b"/tag/", SCRIPT)
    coinbase = Reader(job.coinb1 + EXTRANONCE + job.coinb2).tx()[0]
    (_, _, script_sig, _), *_ = coinbase.inputs
    assert script_sig == bip34_height(840_000) + b"\x05/tag/" + EXTRANONCE
    assert coinbase.outputs == [
        (answer["coinbasevalue"], SCRIPT),
        (0, bytes.fromhex(answer["default_witness_commitment"])),
    ]
    assert answer["coinbasevalue"] == 312_500_000 + 5_500  # 3.125 BTC after the 4th halving
    assert (job.height, job.reward_sat, job.witness) == (840_000, answer["coinbasevalue"], True)
    assert job.prevhash == bytes.fromhex(answer["previousblockhash"])[::-1]
    assert (job.version, job.nbits) == (0x20000000, 0x207FFFFF)
    assert job.transactions == tuple(bytes.fromhex(t["data"]) for t in answer["transactions"])


def test_ntime_is_now_but_never_before_mintime(answer: Any) -> None:
    template = parse_template(answer)
    assert job_of(template, "1", NOW, b"", SCRIPT).ntime == NOW
    assert answer["mintime"] == NOW - 3600
    assert job_of(template, "1", NOW - 7200, b"", SCRIPT).ntime == NOW - 3600


def test_a_coinbase_with_witness_is_bip144_serialised() -> None:
    coinbase = Tx(
        [(bytes(32), 0xFFFFFFFF, b"\x03\x40\x0d\x03" + EXTRANONCE, 0xFFFFFFFF)],
        [(625_000_000, SCRIPT), (0, bytes.fromhex("6a24aa21a9ed") + bytes(range(32)))],
        [[bytes(32)]],
        version=1,
    )
    assert with_witness(coinbase.stripped()) == coinbase.full()


def test_a_block_is_the_header_count_coinbase_and_template_transactions(answer: Any) -> None:
    job = job_of(parse_template(answer), "1", NOW, b"", SCRIPT)
    coinbase = job.coinb1 + EXTRANONCE + job.coinb2
    header = bytes(range(80))
    block = assemble_block(header, coinbase, job)
    r = Reader(block)
    assert r.take(80) == header and r.varint() == 4
    first, raw = r.tx()
    assert raw[4:6] == b"\x00\x01"  # BIP 144's marker and flag
    assert first.stripped() == coinbase and first.witness == [[bytes(32)]]
    assert [r.tx()[1].hex() for _ in range(3)] == [t["data"] for t in answer["transactions"]]
    assert r.pos == len(block)
    # without a commitment: one output, and the coinbase as it was hashed
    bare = copy.deepcopy(answer)
    del bare["default_witness_commitment"]
    bare["transactions"] = []
    job = job_of(parse_template(bare), "2", NOW, b"", SCRIPT)
    coinbase = job.coinb1 + EXTRANONCE + job.coinb2
    assert not job.witness and job.branch == ()
    assert assemble_block(header, coinbase, job) == header + b"\x01" + coinbase
    assert Reader(coinbase).tx()[0].outputs == [(bare["coinbasevalue"], SCRIPT)]


def test_the_branch_leads_from_the_coinbase_to_the_merkle_root(answer: Any) -> None:
    job = job_of(parse_template(answer), "1", NOW, b"", SCRIPT)
    ids = [bytes.fromhex(t["txid"])[::-1] for t in answer["transactions"]]
    root = sha256d(job.coinb1 + EXTRANONCE + job.coinb2)
    for sibling in job.branch:
        root = sha256d(root + sibling)
    assert root == merkle([sha256d(job.coinb1 + EXTRANONCE + job.coinb2), *ids])


def _broken(answer: Any, path: tuple[Any, ...], value: Any) -> Any:
    bad = copy.deepcopy(answer)
    target = bad
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return bad


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("height",), KeyError, "getblocktemplate: height: is required"),
        (("height",), "840000", "getblocktemplate: height: "),
        (("height",), 0, "height: 0 is not a block height"),
        (("coinbasevalue",), -1, "coinbasevalue: -1 out of range"),
        (("version",), -1, "version: -1 is not a 32-bit version"),
        (("bits",), "zz7fffff", "bits: not hexadecimal"),
        (("bits",), "21800001", "bits: nbits 0x21800001 is negative"),
        (("previousblockhash",), "00" * 31, "previousblockhash: 32 bytes expected, got 31"),
        (("transactions", 1, "txid"), "ab", "transactions[1].txid: 32 bytes expected, got 1"),
        (("transactions", 2, "data"), "0g", "transactions[2].data: not hexadecimal"),
        (("rules",), ["!segwit", "!signet"], "rules: !signet is required and not supported"),
        (("default_witness_commitment",), "6a" * 38, "not a BIP 141 commitment script"),
    ],
)
def test_a_malformed_template_is_refused_naming_the_field(
    answer: Any, path: tuple[Any, ...], value: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=r"^getblocktemplate: ") as refused:
        parse_template(_broken(answer, path, value))
    assert message in str(refused.value)
