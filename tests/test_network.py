"""The network poller against a local JSON-RPC server.

There is no bitcoind here: ``FakeNode`` is a real HTTP server on 127.0.0.1, started by each
test, that answers ``getblockchaininfo`` and ``getblockstats`` as Bitcoin Core documents its
JSON-RPC: basic auth (HTTP 401 with an empty body on bad credentials), a ``{"result",
"error", "id"}`` envelope, and for a height it does not have HTTP 500 with the error object
``{"code": -8, "message": ...}``. The difficulty is sent as a JSON number with more digits
than a float holds, as the node does.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from poolstats.clock import FakeClock
from poolstats.config import Settings
from poolstats.network.poller import NetworkPoller
from poolstats.store import SqliteStore

USER, PASSWORD = "rpcuser", "s3cret-pw-never-logged"
DIFFICULTY = "110451907374649.123456789012345678"  # 33 significant digits
T0 = 1_700_000_000


class FakeNode:
    """A chain of ``tip + 1`` blocks with given total fees, served over JSON-RPC."""

    def __init__(self, fees: dict[int, int], tip: int, difficulty: str = DIFFICULTY) -> None:
        self.fees = fees
        self.tip = tip
        self.difficulty = difficulty
        self.broken = False  # answer HTTP 503 with an HTML page, as a proxy in front might
        self.calls: list[tuple[str, list[Any]]] = []
        self.requests = 0  # every POST, answered or refused
        node = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                node.requests += 1
                expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
                if self.headers.get("Authorization") != expected:
                    self._send(401, b"", {"WWW-Authenticate": 'Basic realm="jsonrpc"'})
                    return
                if node.broken:
                    self._send(503, b"<html>unavailable</html>", {"Content-Type": "text/html"})
                    return
                request = json.loads(body)
                status, answer = node.answer(request["method"], request["params"])
                text = answer.replace("@ID@", json.dumps(request["id"]))
                self._send(status, text.encode(), {"Content-Type": "application/json"})

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, method: str, params: list[Any]) -> tuple[int, str]:
        """(HTTP status, JSON text with ``@ID@`` for the request's id), as Bitcoin Core."""
        self.calls.append((method, params))
        if method == "getblockchaininfo":
            # Written by hand so the difficulty keeps all its digits, as the node sends them.
            result = f'{{"chain": "main", "blocks": {self.tip}, "difficulty": {self.difficulty}}}'
            return 200, f'{{"result": {result}, "error": null, "id": @ID@}}'
        if method == "getblockstats":
            height, stats = params
            if height in self.fees and height <= self.tip:
                result = json.dumps({"totalfee": self.fees[height], "height": height})
                assert stats == ["totalfee"]
                return 200, f'{{"result": {result}, "error": null, "id": @ID@}}'
            error = {"code": -8, "message": f"Target block height {height} after current tip"}
            return 500, f'{{"result": null, "error": {json.dumps(error)}, "id": @ID@}}'
        error = {"code": -32601, "message": "Method not found"}
        return 404, f'{{"result": null, "error": {json.dumps(error)}, "id": @ID@}}'

    def stats_calls(self) -> list[int]:
        heights = [params[0] for method, params in self.calls if method == "getblockstats"]
        self.calls.clear()
        return heights


@pytest.fixture
def node() -> Iterator[FakeNode]:
    fake = FakeNode({7: 1000, 8: 2500, 9: 0, 10: 3333, 11: 9999}, tip=10)
    fake.thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    with SqliteStore.open(tmp_path) as s:
        yield s


def settings(url: str, password: str = PASSWORD, **more: Any) -> Settings:
    return Settings(bitcoind_url=url, bitcoind_user=USER, bitcoind_password=password, **more)


@contextmanager
def poller(store: SqliteStore, clock: FakeClock, config: Settings) -> Iterator[Callable[[], bool]]:
    """One poller (its fee cache lives across polls) whose ``poll_once`` runs synchronously."""
    with asyncio.Runner() as runner:
        client = httpx.AsyncClient()
        polling = NetworkPoller(store, clock, config, client)
        try:
            yield lambda: runner.run(polling.poll_once())
        finally:
            runner.run(client.aclose())


def poll_once(store: SqliteStore, clock: FakeClock, config: Settings) -> bool:
    with poller(store, clock, config) as poll:
        return poll()


def test_polls_record_changes_only_and_fetch_each_block_once(
    node: FakeNode, store: SqliteStore
) -> None:
    clock = FakeClock(T0)
    config = settings(node.url, fee_window_blocks=4, fee_update_s=150)
    with poller(store, clock, config) as poll:
        check_polls(node, store, clock, poll)


def check_polls(
    node: FakeNode, store: SqliteStore, clock: FakeClock, poll: Callable[[], bool]
) -> None:
    assert poll() is True
    # Blocks 7-10: (1000 + 2500 + 0 + 3333) // 4 = 6833 // 4 = 1708 sat per block.
    assert store.network_at(T0) == {
        "at": T0,
        "difficulty": DIFFICULTY,
        "height": 10,
        "fees_per_block_sat": 1708,
        "source": "rpc",
        "recorded_at": T0,
    }
    assert node.stats_calls() == [7, 8, 9, 10]

    clock.advance(60)
    assert poll() is False  # same difficulty and height: nothing recorded, nothing fetched
    assert store.network_history(0, T0 + 10**6) == [store.network_at(T0)]
    assert node.stats_calls() == []

    node.tip = 11
    clock.advance(60)
    assert poll() is False  # a new block with new fees, but the last entry is 120 s old (< 150 s)
    assert node.stats_calls() == [11]
    clock.advance(60)
    assert poll() is True
    # Blocks 8-11: (2500 + 0 + 3333 + 9999) // 4 = 15832 // 4 = 3958; only block 11 fetched.
    newest = store.network_at(T0 + 180)
    assert newest is not None
    assert (newest["at"], newest["height"], newest["fees_per_block_sat"]) == (T0 + 180, 11, 3958)
    assert newest["difficulty"] == DIFFICULTY
    assert node.stats_calls() == []
    assert [e["height"] for e in store.network_history(T0, T0 + 181)] == [10, 11]

    node.difficulty = "2.50E+14"  # a retarget at the same height is recorded too
    clock.advance(60)
    assert poll() is True
    changed = store.network_at(T0 + 240)
    assert changed is not None and (changed["difficulty"], changed["height"]) == (
        "250000000000000",
        11,
    )
    assert node.stats_calls() == []


def test_the_default_window_fetches_144_blocks_once(store: SqliteStore) -> None:
    fake = FakeNode({h: h * 1000 for h in range(301)}, tip=300)
    fake.thread.start()
    try:
        config = settings(fake.url)
        assert config.fee_window_blocks == 144
        assert poll_once(store, FakeClock(T0), config) is True
        # Blocks 157-300 with h * 1000 sat: the mean is (157 + 300) / 2 * 1000 = 228500.
        entry = store.network_at(T0)
        assert entry is not None and entry["fees_per_block_sat"] == 228_500
        assert fake.stats_calls() == list(range(157, 301))
    finally:
        fake.server.shutdown()
        fake.server.server_close()


def test_failures_are_logged_without_the_password_and_never_raise(
    node: FakeNode, store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    clock = FakeClock(T0)

    assert poll_once(store, clock, settings(node.url, password="wrong-" + PASSWORD)) is False
    assert "HTTP 401" in caplog.text

    node.tip = 12  # the node claims a block whose stats it cannot give: error -8
    assert poll_once(store, clock, settings(node.url, fee_window_blocks=4)) is False
    assert "code -8" in caplog.text and "Target block height 12" in caplog.text

    node.tip, node.broken = 10, True
    assert poll_once(store, clock, settings(node.url)) is False
    assert "HTTP 503" in caplog.text

    port = node.server.server_address[1]
    node.server.shutdown()
    node.server.server_close()
    down = f"http://{USER}:{PASSWORD}@127.0.0.1:{port}/"  # a password in the URL is hidden too
    assert poll_once(store, clock, settings(down)) is False
    assert "ConnectError" in caplog.text

    assert store.network_at(T0 + 10**6) is None
    assert PASSWORD not in caplog.text
    assert len([r for r in caplog.records if r.name == "poolstats.network.poller"]) == 4


def test_run_keeps_polling_after_failures(node: FakeNode, store: SqliteStore) -> None:
    node.broken = True
    config = settings(node.url, network_poll_s=0.01, fee_window_blocks=2)

    async def scenario() -> None:
        async with httpx.AsyncClient() as client:
            task = asyncio.create_task(NetworkPoller(store, FakeClock(T0), config, client).run())
            deadline = time.monotonic() + 10
            while node.requests < 3:  # it failed at least three times and kept going
                assert time.monotonic() < deadline, "the poller stopped after a failure"
                await asyncio.sleep(0.01)
            assert not task.done()
            node.broken = False
            while store.network_at(T0) is None:
                assert time.monotonic() < deadline, "the poller never recovered"
                await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(scenario())
    entry = store.network_at(T0)
    assert entry is not None and (entry["height"], entry["fees_per_block_sat"]) == (10, 1666)


def test_a_halving_is_recorded_at_once_and_fees_alone_hourly(store: SqliteStore) -> None:
    fake = FakeNode({h: 1000 for h in range(839_990, 840_010)}, tip=839_998)
    fake.thread.start()
    try:
        clock = FakeClock(T0)
        with poller(store, clock, settings(fake.url, fee_window_blocks=1)) as poll:
            assert poll() is True
            fake.tip, fake.fees[839_999] = 839_999, 5000  # new block, new fees: not yet
            clock.advance(600)
            assert poll() is False
            fake.tip = 840_000  # the halving: 6.25 -> 3.125 BTC, recorded at once
            clock.advance(600)
            assert poll() is True
            fake.tip = 840_001
            clock.advance(3599)
            assert poll() is False  # same fees (1000): never worth an entry by themselves
            fake.fees[840_002], fake.tip = 7000, 840_002
            clock.advance(1)  # an hour after the last entry, and the fees changed
            assert poll() is True
        assert [(e["at"] - T0, e["height"], e["fees_per_block_sat"])
                for e in store.network_history(T0, T0 + 10**6)] == [
            (0, 839_998, 1000),
            (1200, 840_000, 1000),
            (4800, 840_002, 7000),
        ]  # fmt: skip
    finally:
        fake.server.shutdown()
        fake.server.server_close()
