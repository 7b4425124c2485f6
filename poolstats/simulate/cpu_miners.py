"""CPU miners that connect to a stratum port and mine real shares, for ``poolstats demo --via
stratum``: the whole path a pool's miners take (subscribe, authorize, vardiff, every share
checked) with hashrates a demo can afford.

Each miner hashes with hashlib at a bounded rate (``hashrate_hs``), in short chunks between
which it yields, so a dozen of them share one event loop (and a few percent of a core) with
the server they mine for.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import logging
import random
import struct
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from poolstats.domain.block import (
    header,
    merkle_root,
    prevhash_from_stratum,
    sha256d,
    target_of,
)

log = logging.getLogger(__name__)
CHUNK = 512  # hashes between two yields to the event loop


@dataclass
class Counts:
    submitted: int = 0
    accepted: int = 0
    refused: int = 0


@dataclass
class CpuMiner:
    host: str
    port: int
    login: str
    hashrate_hs: float
    counts: Counts = field(default_factory=Counts)
    _job: list[Any] | None = None
    _job_seq: int = 0  # bumped on every notify, so the mining loop starts over
    _difficulty: Fraction = Fraction(1)
    _extranonce1: bytes = b""
    _extranonce2_size: int = 4

    async def run(self) -> None:
        """Mine until cancelled, reconnecting after a lost connection."""
        while True:
            try:
                await self._session()
            except (ConnectionError, OSError, asyncio.IncompleteReadError) as exc:
                # quiet until the first connection: the server may still be starting
                level = logging.INFO if self._extranonce1 else logging.DEBUG
                log.log(level, "cpu miner %s: %s; reconnecting", self.login, exc)
            await asyncio.sleep(1.0)

    async def _session(self) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            ids = itertools.count(1)

            def send(method: str, params: list[Any]) -> None:
                message = {"id": next(ids), "method": method, "params": params}
                writer.write(json.dumps(message).encode() + b"\n")

            send("mining.subscribe", ["poolstats-demo-miner/1"])
            send("mining.authorize", [self.login, "x"])
            listening = asyncio.create_task(self._listen(reader))
            try:
                await self._mine(send, writer)
            finally:
                listening.cancel()
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _listen(self, reader: asyncio.StreamReader) -> None:
        while line := await reader.readline():
            message = json.loads(line)
            method = message.get("method")
            if method == "mining.set_difficulty":
                self._difficulty = Fraction(str(message["params"][0]))
            elif method == "mining.notify":
                self._job, self._job_seq = message["params"], self._job_seq + 1
            elif message.get("id") == 1:  # the subscribe answer
                _, en1, self._extranonce2_size = message["result"]
                self._extranonce1 = bytes.fromhex(en1)
            elif message.get("id", 0) > 2:  # a submit's answer
                if message.get("result") is True:
                    self.counts.accepted += 1
                else:
                    self.counts.refused += 1
        raise ConnectionError("closed by the server")

    async def _mine(self, send: Any, writer: asyncio.StreamWriter) -> None:
        extranonce2 = itertools.count(random.getrandbits(16))
        while True:
            if self._job is None or not self._extranonce1:
                await asyncio.sleep(0.05)
                continue
            seq, job = self._job_seq, self._job
            job_id, prev, coinb1, coinb2, branch, version, nbits, ntime, _ = job
            en2 = (next(extranonce2) % 2 ** (8 * self._extranonce2_size)).to_bytes(
                self._extranonce2_size, "big"
            )
            coinbase = bytes.fromhex(coinb1) + self._extranonce1 + en2 + bytes.fromhex(coinb2)
            root = merkle_root(sha256d(coinbase), [bytes.fromhex(b) for b in branch])
            head = header(int(version, 16), prevhash_from_stratum(prev), root,
                          int(ntime, 16), int(nbits, 16), 0)  # fmt: skip
            prefix = hashlib.sha256(head[:76])  # all but the nonce, hashed once per job
            nonce = 0
            while seq == self._job_seq and nonce < 2**32:
                started = time.monotonic()
                target = target_of(self._difficulty)
                for n in range(nonce, min(nonce + CHUNK, 2**32)):
                    h = prefix.copy()
                    h.update(struct.pack("<I", n))
                    if int.from_bytes(hashlib.sha256(h.digest()).digest(), "little") <= target:
                        send("mining.submit", [self.login, job_id, en2.hex(), ntime, f"{n:08x}"])
                        self.counts.submitted += 1
                nonce += CHUNK
                await writer.drain()
                spent = time.monotonic() - started
                await asyncio.sleep(max(0.0, CHUNK / self.hashrate_hs - spent))


async def run_miners(miners: list[CpuMiner]) -> None:
    await asyncio.gather(*(miner.run() for miner in miners))
