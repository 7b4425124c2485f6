"""A miner for the tests that switches work as cpuminer does: only when the header changes.

cpuminer (pooler's minerd) takes ``mining.set_difficulty`` as the difficulty of the jobs
notified after it, builds its work from the newest ``mining.notify`` with extranonce2 0, and
its hashing threads move to that work only when the header's bytes (version, prevhash,
merkle root, ntime, nbits) differ from those of the work they hold. Work resent under a new
job id with the same bytes is not taken: the miner goes on hashing its old work, under the
old job id, at the old difficulty. Shares are found here by real SHA-256d (hashlib, none of
the server's code) and submitted without waiting for their answers, as cpuminer does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from tests.stratum.miner import DIFF1, sha256d

CHUNK = 256  # nonces hashed between two looks at the connection (cpuminer's threads check
# for new work between scans; the event loop, the server's too, runs meanwhile)


@dataclass(frozen=True)
class Work:
    job_id: str
    header_fields: tuple[str, ...]  # prevhash, coinb1, coinb2, branch, version, nbits, ntime
    diff: float
    head: bytes  # the header's first 76 bytes, extranonce2 0 built in

    @property
    def target(self) -> int:
        return int(Fraction(DIFF1) / Fraction(str(self.diff)))


@dataclass(frozen=True)
class Submitted:
    at: float  # time.monotonic() when it was sent
    job_id: str
    diff: float  # the difficulty of the work it was found on


@dataclass
class HeaderSwitchingMiner:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    login: str
    extranonce1: bytes = b""
    extranonce2_size: int = 4
    next_diff: float | None = None  # set_difficulty: for the jobs notified after it
    newest: tuple[list[Any], float] | None = None  # the newest job notified, its difficulty
    work: Work | None = None  # the work being hashed
    told: list[tuple[float, str, float]] = field(default_factory=list)  # (at, job id, diff)
    submitted: list[Submitted] = field(default_factory=list)
    answers: dict[int, dict[str, Any]] = field(default_factory=dict)
    _ids: int = 0
    _reading: asyncio.Task[None] | None = None

    @classmethod
    async def connect(cls, port: int, login: str) -> HeaderSwitchingMiner:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        miner = cls(reader, writer, login)
        miner._reading = asyncio.create_task(miner._read())
        subscribed = await miner._call("mining.subscribe", ["cpuminer/2.5.1"])
        _, en1, miner.extranonce2_size = subscribed["result"]
        miner.extranonce1 = bytes.fromhex(en1)
        assert (await miner._call("mining.authorize", [login, "x"]))["result"] is True
        return miner

    async def _send(self, method: str, params: list[Any]) -> int:
        self._ids += 1
        line = {"id": self._ids, "method": method, "params": params}
        self.writer.write(json.dumps(line).encode() + b"\n")
        await self.writer.drain()
        return self._ids

    async def _call(self, method: str, params: list[Any]) -> dict[str, Any]:
        id = await self._send(method, params)
        deadline = time.monotonic() + 10
        while id not in self.answers:
            assert time.monotonic() < deadline, f"no answer to {method}"
            await asyncio.sleep(0.01)
        return self.answers[id]

    async def _read(self) -> None:
        while line := await self.reader.readline():
            message = json.loads(line)
            if message.get("method") == "mining.set_difficulty":
                self.next_diff = message["params"][0]
            elif message.get("method") == "mining.notify":
                assert self.next_diff is not None, "a job before any difficulty"
                self.told.append((time.monotonic(), message["params"][0], self.next_diff))
                self.newest = (message["params"], self.next_diff)
            elif message.get("id") is not None:
                self.answers[message["id"]] = message

    def _work(self, params: list[Any], diff: float) -> Work:
        job_id, prev, coinb1, coinb2, branch, version, nbits, ntime, _ = params
        en2 = bytes(self.extranonce2_size)
        root = sha256d(bytes.fromhex(coinb1) + self.extranonce1 + en2 + bytes.fromhex(coinb2))
        for sibling in branch:
            root = sha256d(root + bytes.fromhex(sibling))
        prev_raw = bytes.fromhex(prev)
        prev_header = b"".join(prev_raw[i : i + 4][::-1] for i in range(0, 32, 4))
        head = struct.pack("<I", int(version, 16)) + prev_header + root
        head += struct.pack("<II", int(ntime, 16), int(nbits, 16))
        fields = (prev, coinb1, coinb2, json.dumps(branch), version, nbits, ntime)
        return Work(job_id, fields, diff, head)

    async def mine(self, enough: Any, timeout: float) -> None:
        """Hash until ``enough()`` (or fail after ``timeout`` s), switching as cpuminer."""
        deadline = time.monotonic() + timeout
        nonce = 0
        while not enough():
            assert time.monotonic() < deadline, "the miner did not get there in time"
            if self.newest is not None:
                newest = self._work(*self.newest)
                if self.work is None or newest.header_fields != self.work.header_fields:
                    self.work, nonce = newest, 0  # new header bytes: new work
            work = self.work
            if work is None:
                await asyncio.sleep(0.01)
                continue
            target = work.target
            for n in range(nonce, nonce + CHUNK):
                digest = sha256d(work.head + struct.pack("<I", n))
                if int.from_bytes(digest, "little") <= target:
                    params = [self.login, work.job_id, "00" * self.extranonce2_size,
                              work.header_fields[6], f"{n:08x}"]  # fmt: skip
                    self.submitted.append(Submitted(time.monotonic(), work.job_id, work.diff))
                    await self._send("mining.submit", params)
            nonce += CHUNK
            await asyncio.sleep(0)  # the connection's notifications, the server's work

    async def close(self) -> None:
        if self._reading is not None:
            self._reading.cancel()
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()
