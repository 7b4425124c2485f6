"""The stratum server under misbehaving and idle clients: bounded lines, idle timeout, bans,
slow readers, binary noise, and thousands of idle connections beside a working miner."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import Awaitable, Callable
from fractions import Fraction
from typing import Any

from poolstats.stratum.server import MAX_BUFFERED, MAX_LINE, StratumConfig, StratumServer
from poolstats.stratum.session import Limits
from tests.api.conftest import Node
from tests.nodes import free_port, until
from tests.stratum.miner import Miner
from tests.stratum.test_server import DIFF, server_for

LIMITS = Limits(DIFF, Fraction(2**32), DIFF)


def run(
    node: Node, config: StratumConfig, scenario: Callable[[StratumServer, int], Awaitable[Any]]
) -> Any:
    stratum = server_for(node, config)
    port = free_port()

    async def main() -> Any:
        sink = asyncio.create_task(stratum.sink.run())
        server = await stratum.serve("127.0.0.1", port)
        try:
            return await scenario(stratum, port)
        finally:
            server.close()
            await server.wait_closed()
            sink.cancel()

    return asyncio.run(main())


async def closed_by_server(reader: asyncio.StreamReader, timeout: float = 5.0) -> bytes:
    """Everything the server sent until it closed the connection (fails after ``timeout``)."""
    return await asyncio.wait_for(reader.read(), timeout)


def test_a_line_longer_than_the_limit_closes_that_connection_only(node: Node) -> None:
    async def scenario(stratum: StratumServer, port: int) -> tuple[bytes, dict[str, Any]]:
        bystander = await Miner.connect(port)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b'{"id": 1, "method": "mining.subscribe", "params": ["' + b"a" * MAX_LINE)
        await writer.drain()
        rest = await closed_by_server(reader)
        reply = await bystander.call("mining.subscribe", [])
        await bystander.close()
        return rest, reply

    rest, reply = run(node, StratumConfig(limits=LIMITS), scenario)
    assert rest == b""  # nothing answered: the line was never read whole
    assert reply["error"] is None and len(reply["result"]) == 3


def test_an_idle_connection_is_closed_after_the_idle_timeout(node: Node) -> None:
    async def scenario(stratum: StratumServer, port: int) -> tuple[bytes, int]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b'{"id": 1, "method": "mining.subscribe", "params": []}\n')
        rest = await closed_by_server(reader)
        return rest, len(stratum.sessions)

    rest, sessions = run(node, StratumConfig(limits=LIMITS, idle_s=0.3), scenario)
    replies = [json.loads(line) for line in rest.splitlines()]
    assert replies[0]["id"] == 1 and replies[0]["error"] is None  # served, then closed idle
    assert sessions == 0


def test_a_flood_of_garbage_is_disconnected_and_its_address_banned_for_a_while(
    node: Node,
) -> None:
    config = StratumConfig(limits=LIMITS, ban_after=5, ban_s=600)

    async def scenario(stratum: StratumServer, port: int) -> tuple[bytes, bytes, bytes, bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        # four bad lines, one good one (the score drops by one), then bad ones until banned;
        # one at a time, so that the server closes with nothing unread (no reset)
        lines = [b"\xff\xfe garbage\n"] * 4 + [b'{"id": 9, "method": "mining.subscribe"}\n']
        lines += [os.urandom(64).replace(b"\n", b"") + b"\n"]
        lines += [b'{"id": 2, "method": "mining.steal", "params": []}\n'] * 10
        flood = b""
        for line in lines:
            writer.write(line)
            while (
                answer := await asyncio.wait_for(reader.readline(), 5)
            ) and b'"method"' in answer:
                pass  # the subscribe's set_difficulty and notify
            if not answer:
                break
            flood += answer
        flood += await closed_by_server(reader)
        # the same address, while banned: closed at once, before any request
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while_banned = await closed_by_server(reader)
        # ten minutes later: served again
        node.clock.advance(600)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b'{"id": 1, "method": "mining.subscribe", "params": []}\n')
        after = await reader.readline()
        writer.close()
        return flood, while_banned, after, json.dumps(sorted(stratum.banned)).encode()

    flood, while_banned, after, banned = run(node, config, scenario)
    answers = [json.loads(line) for line in flood.splitlines()]
    codes = [a["error"][0] if a["error"] else None for a in answers]
    # score: 1 2 3 4, good -> 3, noise -> 4, unknown method -> 5: banned on the 7th answer
    assert codes == [20, 20, 20, 20, None, 20, 20]
    assert answers[6]["error"][1] == "unknown method 'mining.steal'"
    assert while_banned == b""
    assert json.loads(after)["id"] == 1
    assert json.loads(banned) == []  # the expired ban was dropped when checked


def test_a_client_that_never_reads_is_dropped_not_buffered_for(node: Node) -> None:
    async def scenario(stratum: StratumServer, port: int) -> tuple[int, int, bool]:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", port))
        _, writer = await asyncio.open_connection(sock=sock)
        writer.write(b'{"id": 1, "method": "mining.subscribe", "params": []}\n')
        await writer.drain()
        reader_miner = await Miner.connect(port)
        await reader_miner.start("alice.rig1")
        await until(lambda: len(stratum.sessions) == 2, 5, "both sessions")
        sent = 0
        while len(stratum.sessions) == 2 and sent < 20_000:
            stratum.new_job(clean=False)  # jobs pile up in the server's buffer for it
            sent += 1
            if sent % 100 == 0:
                await asyncio.sleep(0)  # let the loop flush what the kernel takes
        await until(lambda: len(stratum.sessions) == 1, 5, "the non-reader dropped")
        kept = next(iter(stratum.sessions)).extranonce1 == reader_miner.extranonce1
        reply = await reader_miner.call("mining.extranonce.subscribe", [])  # after every job
        await reader_miner.close()
        writer.close()
        return sent, kept, reply["result"] is True

    sent, kept, answered = run(node, StratumConfig(limits=LIMITS), scenario)
    notify_size = 300  # bytes, at least, of one mining.notify
    assert sent * notify_size > MAX_BUFFERED  # dropped only after passing the bound
    assert sent < 20_000 and kept and answered  # the miner that reads got all of them


def test_thousands_of_idle_connections_do_not_hold_up_a_working_miner(node: Node) -> None:
    idle = 2000

    async def scenario(stratum: StratumServer, port: int) -> tuple[int, list[bool], int]:
        conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(idle)]
        for _, writer in conns:
            writer.write(b'{"id": 1, "method": "mining.subscribe", "params": []}\n')
        for reader, _ in conns:  # subscribe answer, set_difficulty, notify
            for _ in range(3):
                await asyncio.wait_for(reader.readline(), 10)
        miner = await Miner.connect(port)
        await miner.start("alice.rig1")
        verdicts, nonce = [], 0
        for _ in range(3):
            params, nonce = miner.find(extranonce2=1, start_nonce=nonce)
            reply = await asyncio.wait_for(miner.call("mining.submit", ["alice.rig1", *params]), 5)
            verdicts.append(reply["result"] is True)
            nonce += 1
        stratum.new_job(clean=True)  # a new block reaches every idle connection too
        got = 0
        for reader, _ in conns:
            line = await asyncio.wait_for(reader.readline(), 10)
            got += json.loads(line)["method"] == "mining.notify"
        await miner.close()
        for _, writer in conns:
            writer.close()
        return got, verdicts, len(stratum.sessions)

    got, verdicts, sessions = run(node, StratumConfig(limits=LIMITS), scenario)
    assert verdicts == [True, True, True]
    assert got == idle
    assert sessions == idle + 1


def test_miners_get_a_new_job_every_refresh_even_when_nothing_changed(node: Node) -> None:
    config = StratumConfig(limits=LIMITS, job_refresh_s=0.05)

    async def scenario(stratum: StratumServer, port: int) -> list[list[Any]]:
        refreshing = asyncio.create_task(stratum.refresh_jobs())
        miner = await Miner.connect(port)
        await miner.start("alice.rig1")
        jobs: list[list[Any]] = [miner.job or []]
        while len(jobs) < 4:
            message = json.loads(await asyncio.wait_for(miner.reader.readline(), 5))
            if message.get("method") == "mining.notify":
                jobs.append(message["params"])
        refreshing.cancel()
        await miner.close()
        return jobs

    jobs = run(node, config, scenario)
    assert len({job[0] for job in jobs}) == 4  # a new job id each time
    assert [job[-1] for job in jobs[1:]] == [False] * 3  # not a new block: no clean
    assert {job[1] for job in jobs} == {jobs[0][1]}  # the same previous block
