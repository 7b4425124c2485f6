"""A Bitcoin Core stand-in for the stratum tests: a real HTTP JSON-RPC server on 127.0.0.1, in a
thread, serving ``getblocktemplate`` (long polls included) and ``submitblock``.

Everything here is written from the documents, not from poolstats' code: transactions are
serialised by hand (BIP 144 for witnesses), the witness commitment is computed per BIP 141,
and a submitted block is parsed byte by byte and checked with hashlib: proof of work against
the target of its bits, the merkle root of its transactions, the coinbase's BIP 34 height,
its payout, its witness and witness commitment, and that the other transactions are the
template's. A good block is kept and becomes the tip, as a node would make it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import struct
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

USER, PASSWORD = "pool", "gbt-s3cret-never-logged"
BITS = 0x207FFFFF  # regtest's: about every second hash is a block
WITNESS_HEADER = bytes.fromhex("6a24aa21a9ed")  # OP_RETURN, push 36, 0xaa21a9ed
LONG_POLL_WAIT_S = 30.0


def sha256d(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def varint(n: int) -> bytes:
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + struct.pack("<H", n)
    return b"\xfe" + struct.pack("<I", n)


def target_of_bits(bits: int) -> int:
    return (bits & 0xFFFFFF) << (8 * ((bits >> 24) - 3))


def bip34_height(height: int) -> bytes:
    """The scriptSig push BIP 34 requires (heights above 16): the height's minimal
    little-endian bytes, a zero byte added when the top bit would read as a sign."""
    raw = bytearray()
    while height:
        raw.append(height & 0xFF)
        height >>= 8
    if raw[-1] & 0x80:
        raw.append(0)
    return bytes([len(raw)]) + bytes(raw)


def merkle(leaves: list[bytes]) -> bytes:
    level = list(leaves)
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [sha256d(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


# --- transactions ---------------------------------------------------------------------------


@dataclass
class Tx:
    """A transaction in both serialisations; ids in internal byte order."""

    inputs: list[tuple[bytes, int, bytes, int]]  # (prev txid, vout, scriptSig, sequence)
    outputs: list[tuple[int, bytes]]  # (value sat, script)
    witness: list[list[bytes]] = field(default_factory=list)  # one stack per input, or none
    version: int = 2
    locktime: int = 0

    def _body(self) -> tuple[bytes, bytes]:
        ins = varint(len(self.inputs)) + b"".join(
            prev + struct.pack("<I", vout) + varint(len(script)) + script + struct.pack("<I", seq)
            for prev, vout, script, seq in self.inputs
        )
        outs = varint(len(self.outputs)) + b"".join(
            struct.pack("<q", value) + varint(len(script)) + script
            for value, script in self.outputs
        )
        return ins, outs

    def stripped(self) -> bytes:
        ins, outs = self._body()
        return struct.pack("<i", self.version) + ins + outs + struct.pack("<I", self.locktime)

    def full(self) -> bytes:
        if not self.witness:
            return self.stripped()
        ins, outs = self._body()
        wit = b"".join(
            varint(len(stack)) + b"".join(varint(len(item)) + item for item in stack)
            for stack in self.witness
        )
        return (
            struct.pack("<i", self.version) + b"\x00\x01" + ins + outs + wit
            + struct.pack("<I", self.locktime)
        )  # fmt: skip

    def txid(self) -> bytes:
        return sha256d(self.stripped())

    def wtxid(self) -> bytes:
        return sha256d(self.full())


def mempool() -> list[tuple[Tx, int]]:
    """Three transactions and their fees (sat): a legacy P2PKH spend, a P2WPKH spend, and a
    P2WPKH spend of the second one's output (a dependency, as a template lists them)."""
    p2pkh = bytes.fromhex("76a914") + bytes(range(20)) + bytes.fromhex("88ac")
    p2wpkh = b"\x00\x14" + bytes(range(20, 40))
    sig, pubkey = b"\x30" + bytes(range(70)), b"\x02" + bytes(range(100, 132))
    legacy = Tx(
        [(bytes([0xAA]) * 32, 1, bytes([len(sig)]) + sig + bytes([len(pubkey)]) + pubkey,
          0xFFFFFFFF)],
        [(150_000, p2pkh), (849_000, p2wpkh)],
        version=1,
    )  # fmt: skip
    segwit = Tx([(bytes([0xBB]) * 32, 0, b"", 0xFFFFFFFD)], [(498_000, p2wpkh)], [[sig, pubkey]])
    child = Tx([(segwit.txid(), 0, b"", 0xFFFFFFFD)], [(495_500, p2pkh)], [[sig, pubkey]])
    return [(legacy, 1_000), (segwit, 2_000), (child, 2_500)]


def witness_commitment(txs: list[Tx]) -> bytes:
    """BIP 141: the coinbase's wtxid counts as zeros; the commitment hashes the witness root
    with the coinbase's witness reserved value (32 zeros)."""
    root = merkle([bytes(32)] + [tx.wtxid() for tx in txs])
    return WITNESS_HEADER + sha256d(root + bytes(32))


# --- reading a block ------------------------------------------------------------------------


class Reader:
    def __init__(self, raw: bytes) -> None:
        self.raw, self.pos = raw, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.raw):
            raise ValueError("block ends early")
        out = self.raw[self.pos : self.pos + n]
        self.pos += n
        return out

    def u32(self) -> int:
        return int(struct.unpack("<I", self.take(4))[0])

    def varint(self) -> int:
        first = self.take(1)[0]
        size = {0xFD: 2, 0xFE: 4, 0xFF: 8}.get(first)
        return first if size is None else int.from_bytes(self.take(size), "little")

    def tx(self) -> tuple[Tx, bytes]:
        """The next transaction, and its bytes as they were in the block."""
        start = self.pos
        version = struct.unpack("<i", self.take(4))[0]
        segwit = self.raw[self.pos : self.pos + 2] == b"\x00\x01"
        if segwit:
            self.take(2)
        inputs = [
            (self.take(32), self.u32(), self.take(self.varint()), self.u32())
            for _ in range(self.varint())
        ]
        outputs = [
            (struct.unpack("<q", self.take(8))[0], self.take(self.varint()))
            for _ in range(self.varint())
        ]
        witness = (
            [[self.take(self.varint()) for _ in range(self.varint())] for _ in inputs]
            if segwit
            else []
        )
        tx = Tx(inputs, outputs, witness, version, self.u32())
        return tx, self.raw[start : self.pos]


# --- the node -------------------------------------------------------------------------------


class FakeBitcoind:
    """One chain tip and a mempool, over JSON-RPC. Knobs for the tests: ``warming_up`` (answer
    templates with error -28, as a starting node), ``drop_submits`` (close that many
    ``submitblock`` connections without an answer), ``reject_with`` (a reason to answer)."""

    def __init__(self, pool_script: bytes, height: int, now: int) -> None:
        self.pool_script = pool_script
        self.height = height  # of the next block
        self.tip = sha256d(b"the parent of the first template")  # internal order
        self.now = now
        self.mempool = mempool()
        self.changes = 0  # mempool or tip changes, part of the longpollid as in Bitcoin Core
        self.warming_up = False
        self.drop_submits = 0
        self.reject_with: str | None = None
        self.blocks: list[bytes] = []  # accepted, in order
        self.submitted: list[bytes] = []  # every block that reached submitblock
        self.problems: list[str] = []  # what was wrong with submitted blocks
        self.long_polls_waiting = 0
        self.long_polls_answered = 0
        self.plain_templates = 0  # getblocktemplate calls without a longpollid
        self.state = threading.Condition()
        self.closing = False
        node = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
                if self.headers.get("Authorization") != expected:
                    self._send(401, b"")
                    return
                request = json.loads(body)
                answered = node.answer(request["method"], request["params"])
                if answered is None:  # the connection drops before an answer
                    self.close_connection = True
                    return
                status, result, error = answered
                text = json.dumps({"result": result, "error": error, "id": request["id"]})
                self._send(status, text.encode())

            def _send(self, status: int, body: bytes) -> None:
                with contextlib.suppress(ConnectionError):  # a long poll its client gave up
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        with self.state:
            self.closing = True
            self.state.notify_all()
        self.server.shutdown()
        self.server.server_close()

    # -- chain ---------------------------------------------------------------------------

    def coinbasevalue(self) -> int:
        return (50 * 100_000_000 >> (self.height // 210_000)) + sum(f for _, f in self.mempool)

    def longpollid(self) -> str:
        return self.tip[::-1].hex() + str(self.changes)

    def new_tip(self, block_hash: bytes, mined: int) -> None:
        """A block on the tip (ours or another pool's) that took ``mined`` transactions."""
        with self.state:
            self.tip, self.height = block_hash, self.height + 1
            self.mempool = self.mempool[mined:]
            self.changes += 1
            self.state.notify_all()

    def template(self) -> dict[str, Any]:
        """As Bitcoin Core answers ``getblocktemplate {"rules": ["segwit"]}``."""
        txs = [tx for tx, _ in self.mempool]
        target = target_of_bits(BITS)
        return {
            "capabilities": ["proposal"],
            "version": 0x20000000,
            "rules": ["csv", "!segwit", "taproot"],
            "vbavailable": {},
            "vbrequired": 0,
            "previousblockhash": self.tip[::-1].hex(),
            "transactions": [
                {
                    "data": tx.full().hex(),
                    "txid": tx.txid()[::-1].hex(),
                    "hash": tx.wtxid()[::-1].hex(),
                    "depends": [
                        i
                        for i, (other, _) in enumerate(self.mempool, 1)
                        if any(prev == other.txid() for prev, *_ in tx.inputs)
                    ],
                    "fee": fee,
                    "sigops": 1 if tx.witness else 4,
                    "weight": len(tx.stripped()) * 3 + len(tx.full()),
                }
                for tx, fee in self.mempool
            ],
            "coinbaseaux": {},
            "coinbasevalue": self.coinbasevalue(),
            "longpollid": self.longpollid(),
            "target": f"{target:064x}",
            "mintime": self.now - 3600,
            "mutable": ["time", "transactions", "prevblock"],
            "noncerange": "00000000ffffffff",
            "sigoplimit": 80000,
            "sizelimit": 4000000,
            "weightlimit": 4000000,
            "curtime": self.now,
            "bits": f"{BITS:08x}",
            "height": self.height,
            "default_witness_commitment": witness_commitment(txs).hex(),
        }

    # -- RPC -----------------------------------------------------------------------------

    def answer(self, method: str, params: list[Any]) -> tuple[int, Any, Any] | None:
        if method == "getblocktemplate":
            return self._getblocktemplate(params[0] if params else {})
        if method == "submitblock":
            return self._submitblock(bytes.fromhex(params[0]))
        return 404, None, {"code": -32601, "message": "Method not found"}

    def _getblocktemplate(self, request: dict[str, Any]) -> tuple[int, Any, Any]:
        if self.warming_up:
            return 500, None, {"code": -28, "message": "Loading block index…"}
        if "segwit" not in request.get("rules", []):
            message = "getblocktemplate must be called with the segwit rule set"
            return 500, None, {"code": -8, "message": message}
        with self.state:
            asked = request.get("longpollid")
            if asked is None:
                self.plain_templates += 1
            else:
                self.long_polls_waiting += 1
                self.state.wait_for(
                    lambda: self.longpollid() != asked or self.closing, LONG_POLL_WAIT_S
                )
                self.long_polls_waiting -= 1
                self.long_polls_answered += 1
            return 200, self.template(), None

    def _submitblock(self, raw: bytes) -> tuple[int, Any, Any] | None:
        with self.state:
            if self.drop_submits:
                self.drop_submits -= 1
                return None
            self.submitted.append(raw)
            problem = self.check(raw)
            if problem:
                self.problems.append(problem)
                return 200, problem, None
            if self.reject_with:
                return 200, self.reject_with, None
        self.blocks.append(raw)
        self.new_tip(sha256d(raw[:80]), len(self.mempool))
        return 200, None, None

    def check(self, raw: bytes) -> str:
        """What is wrong with a block on the current tip and template, or ''."""
        try:
            r = Reader(raw)
            head = r.take(80)
            count = r.varint()
            coinbase, _ = r.tx()
            others = [r.tx() for _ in range(count - 1)]
        except (ValueError, IndexError, struct.error) as exc:
            return f"bad-blk-decode: {exc}"
        if r.pos != len(raw):
            return "bad-blk-length"
        version, prev, root, _, bits, _ = struct.unpack("<I32s32sIII", head)
        if prev != self.tip:
            return "bad-prevblk"
        if bits != BITS or version != 0x20000000:
            return "bad-diffbits-or-version"
        if int.from_bytes(sha256d(head), "little") > target_of_bits(bits):
            return "high-hash"
        if root != merkle([coinbase.txid()] + [tx.txid() for tx, _ in others]):
            return "bad-txnmrklroot"
        if [data for _, data in others] != [tx.full() for tx, _ in self.mempool]:
            return "bad-txns-not-the-template"
        (prev_out, index, script_sig, _), *more = coinbase.inputs
        if more or prev_out != bytes(32) or index != 0xFFFFFFFF:
            return "bad-cb-input"
        if not script_sig.startswith(bip34_height(self.height)) or not 2 <= len(script_sig) <= 100:
            return "bad-cb-height"
        commitment = witness_commitment([tx for tx, _ in others])
        if coinbase.outputs != [(self.coinbasevalue(), self.pool_script), (0, commitment)]:
            return "bad-cb-outputs"
        if coinbase.witness != [[bytes(32)]]:
            return "bad-witness-nonce-size"
        return ""
