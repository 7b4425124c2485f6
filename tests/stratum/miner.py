"""A stratum miner for the tests: real TCP, and real (low-difficulty) proof of work with
hashlib, computed here without the server's code."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import struct
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

DIFF1 = 0xFFFF << 208


def sha256d(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


@dataclass
class Miner:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    ids: int = 0
    difficulty: float = 1.0
    job: list[Any] | None = None
    extranonce1: bytes = b""
    extranonce2_size: int = 4
    notes: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    async def connect(cls, port: int) -> Miner:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, raw: bytes) -> None:
        self.writer.write(raw)
        await self.writer.drain()

    async def call(self, method: str, params: list[Any]) -> dict[str, Any]:
        """Send a request; return its reply, keeping the notifications that come before it."""
        self.ids += 1
        await self.send(
            json.dumps({"id": self.ids, "method": method, "params": params}).encode() + b"\n"
        )
        return await self.reply(self.ids)

    async def _message(self) -> dict[str, Any]:
        """The next line from the server, its difficulty or job taken as the miner's."""
        line = await asyncio.wait_for(self.reader.readline(), 10)
        if not line:
            raise ConnectionError("closed by the server")
        message: dict[str, Any] = json.loads(line)
        if message.get("method") == "mining.set_difficulty":
            self.difficulty = message["params"][0]
        elif message.get("method") == "mining.notify":
            self.job = message["params"]
        return message

    async def reply(self, id: int | None) -> dict[str, Any]:
        while True:
            message = await self._message()
            if message.get("method") is None and message.get("id") == id:
                return dict(message)
            self.notes.append(message)

    async def next_job(self) -> list[Any]:
        """The next ``mining.notify``'s parameters (a difficulty before it is taken too)."""
        while True:
            message = await self._message()
            if message.get("method") == "mining.notify":
                return list(message["params"])
            self.notes.append(message)

    async def start(self, login: str, password: str = "x") -> None:
        subscribed = await self.call("mining.subscribe", ["test-miner/1.0"])
        _, en1, self.extranonce2_size = subscribed["result"]
        self.extranonce1 = bytes.fromhex(en1)
        assert (await self.call("mining.authorize", [login, password]))["result"] is True

    def find(self, extranonce2: int, start_nonce: int = 0) -> tuple[list[str], int]:
        """Submit parameters of a share meeting the current difficulty, and its nonce."""
        assert self.job is not None
        job_id, prev, coinb1, coinb2, branch, version, nbits, ntime, _ = self.job
        en2 = extranonce2.to_bytes(self.extranonce2_size, "big")
        root = sha256d(bytes.fromhex(coinb1) + self.extranonce1 + en2 + bytes.fromhex(coinb2))
        for sibling in branch:
            root = sha256d(root + bytes.fromhex(sibling))
        prev_raw = bytes.fromhex(prev)
        prev_header = b"".join(prev_raw[i : i + 4][::-1] for i in range(0, 32, 4))
        target = int(Fraction(DIFF1) / Fraction(str(self.difficulty)))  # exact, as the pool
        head = struct.pack("<I", int(version, 16)) + prev_header + root
        tail = struct.pack("<II", int(ntime, 16), int(nbits, 16))
        nonce = start_nonce
        while True:
            digest = sha256d(head + tail + struct.pack("<I", nonce))
            if int.from_bytes(digest, "little") <= target:
                return [job_id, en2.hex(), ntime, f"{nonce:08x}"], nonce
            nonce += 1

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()
