"""Miner connections for the stratum benchmarks, written without the server's code: a line
protocol client (asyncio ``Protocol``, so that thousands of connections cost little in the
client processes), the subscribe/authorize handshake, and submit lines.

Every arrival is stamped with ``time.monotonic()`` as it is read: the clock is system-wide
on Linux, so the bench compares it with the server process's times (job broadcasts).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import msgspec

SUBMIT = b'{"id":%d,"method":"mining.submit","params":["%s","%s","%s","%s","%08x"]}\n'


class Message(msgspec.Struct):
    """Any line the server sends: a reply (``id``, ``result``, ``error``) or a notification
    (``method``, ``params``)."""

    id: int | str | None = None
    result: Any = None
    error: Any = None
    method: str | None = None
    params: list[Any] = msgspec.field(default_factory=list)


_decode = msgspec.json.Decoder(Message).decode


class MinerConnection(asyncio.Protocol):
    """One miner's connection. Replies go to the call waiting for their id, else to
    ``on_reply``; ``mining.notify`` sets the current job and records when each job came."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = b""
        self._waiting: dict[int, asyncio.Future[Message]] = {}
        self._ids = 0
        self.job: list[Any] | None = None
        self.job_times: dict[str, float] = {}  # job id -> monotonic time its notify arrived
        self.extranonce1 = ""
        self.closed = False
        self.on_reply: Any = None  # Callable[[Message, float], None] for pipelined submits

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        *lines, self._buffer = (self._buffer + data).split(b"\n")
        for line in lines:
            message = _decode(line)
            if message.method == "mining.notify":
                self.job = message.params
                self.job_times[message.params[0]] = now
            elif message.method is None:
                waiting = (
                    self._waiting.pop(message.id, None) if isinstance(message.id, int) else None
                )
                if waiting is not None:
                    waiting.set_result(message)
                elif self.on_reply is not None:
                    self.on_reply(message, now)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        for waiting in self._waiting.values():
            if not waiting.done():
                waiting.set_exception(ConnectionError("closed by the server"))

    def write(self, line: bytes) -> None:
        assert self.transport is not None
        self.transport.write(line)

    async def call(self, method: str, params: list[Any], timeout_s: float = 30.0) -> Message:
        self._ids += 1
        done = asyncio.get_running_loop().create_future()
        self._waiting[self._ids] = done
        self.write(
            msgspec.json.encode({"id": self._ids, "method": method, "params": params}) + b"\n"
        )
        return await asyncio.wait_for(done, timeout_s)

    async def handshake(self, login: str) -> dict[str, float]:
        """Subscribe and authorize as a miner does (each after the last answer); the seconds
        each took. The subscribe answer brings the current job."""
        started = time.monotonic()
        subscribed = await self.call("mining.subscribe", ["bench-miner/1.0"])
        answered = time.monotonic()
        if subscribed.error is not None or not isinstance(subscribed.result, list):
            raise RuntimeError(f"subscribe refused: {subscribed.error}")
        self.extranonce1 = subscribed.result[1]
        authorized = await self.call("mining.authorize", [login, "x"])
        done = time.monotonic()
        if authorized.result is not True:
            raise RuntimeError(f"authorize refused: {authorized.error}")
        if self.job is None:
            raise RuntimeError("no job after subscribing")
        return {"subscribe_s": answered - started, "authorize_s": done - answered}

    def submit_line(self, id: int, login: str, extranonce2: int, nonce: int) -> bytes:
        """A ``mining.submit`` of the current job (its ntime, the job's version)."""
        assert self.job is not None
        job_id, ntime = self.job[0], self.job[7]
        return SUBMIT % (id, login.encode(), job_id.encode(), b"%08x" % extranonce2,
                         ntime.encode(), nonce)  # fmt: skip

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def connect(
    port: int, source_ip: str = "127.0.0.1", host: str = "127.0.0.1"
) -> MinerConnection:
    loop = asyncio.get_running_loop()
    _, miner = await loop.create_connection(MinerConnection, host, port, local_addr=(source_ip, 0))
    return miner
