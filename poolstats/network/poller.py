"""Network difficulty, height and fees per block from a Bitcoin Core node, into the store.

Earnings (FPPS) need the difficulty and block reward in force at each share's time; this
poller keeps ``network_history`` current when ``bitcoind_url`` is set, asking the node
through ``network.bitcoind``'s client.

Why it is built this way:
- The difficulty is read as the ``Decimal`` the client parses, so it keeps every digit the
  node sent; a float would round it and settlement divides by it exactly.
- Fees per block are the floor of the mean ``totalfee`` of the last ``fee_window_blocks``
  blocks. Each block's fee is fetched once and kept while it is in the window, so the first
  poll asks for at most that many blocks and later ones only for new blocks.
- A failed poll (node down, refused credentials, an error answer, a busy store) is logged
  and retried at the next interval; it never raises into the server. The password is never
  logged: the client scrubs it from every message.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx

from poolstats.clock import Clock
from poolstats.config import Settings
from poolstats.domain.earnings import subsidy_sat
from poolstats.domain.network_entry import normalise_difficulty
from poolstats.network.bitcoind import RpcClient, RpcError
from poolstats.store.ports.network import NetworkPort
from poolstats.threads import in_thread

log = logging.getLogger(__name__)

SOURCE = "rpc"


class NetworkPoller:
    """Polls one node and records an entry whenever what a share earns changes."""

    def __init__(
        self, store: NetworkPort, clock: Clock, settings: Settings, client: httpx.AsyncClient
    ) -> None:
        self._store = store
        self._clock = clock
        self._settings = settings
        self._rpc = RpcClient.from_settings(settings, client)
        self._fees: dict[int, int] = {}  # height -> totalfee (sat), only heights in the window

    async def run(self) -> None:
        """Poll every ``network_poll_s`` until cancelled; ``poll_once`` never raises."""
        while True:
            await self.poll_once()
            await asyncio.sleep(self._settings.network_poll_s)

    async def poll_once(self) -> bool:
        """Ask the node once; ``True`` if a new entry was recorded, ``False`` if nothing changed
        or the poll failed (logged, without the password)."""
        try:
            return await self._poll()
        except Exception as exc:  # anything: the server must outlive a bad node or answer
            log.warning("network poll of %s failed: %s", self._rpc.where, self._rpc.describe(exc))
            return False

    async def _poll(self) -> bool:
        info = await self._rpc.call("getblockchaininfo", [])
        height = info["blocks"]
        if isinstance(height, bool) or not isinstance(height, int) or height < 0:
            raise RpcError(f"getblockchaininfo answered blocks={height!r}")
        difficulty = normalise_difficulty(str(info["difficulty"]))
        fees = await self._fees_per_block(height)
        at = int(self._clock.now())
        # The store is synchronous and a flush may hold its writer: keep the event loop free.
        current = await in_thread(self._store.network_at, at)
        if current is not None and not self._worth_recording(current, difficulty, height, fees, at):
            return False
        written = await in_thread(
            self._store.record_network, at, difficulty, height, fees, SOURCE, at
        )
        if written:
            log.info(
                "network: height %d, difficulty %s, %d sat fees per block", height, difficulty, fees
            )
        return written

    def _worth_recording(
        self, current: dict[str, Any], difficulty: str, height: int, fees: int, at: int
    ) -> bool:
        """A new entry when what a share earns changes: the difficulty, the subsidy (a
        halving), or the fee average once ``fee_update_s`` has passed. Every entry starts a
        new part of each sub-account's work, so a new block alone (every ~10 minutes) is not
        one: its height only matters through the subsidy."""
        if difficulty != current["difficulty"]:
            return True
        if subsidy_sat(height) != subsidy_sat(current["height"]):
            return True
        return bool(
            fees != current["fees_per_block_sat"]
            and at - current["at"] >= self._settings.fee_update_s
        )

    async def _fees_per_block(self, height: int) -> int:
        """Floor of the mean total fees of the window's blocks; each block is fetched once."""
        blocks = self._settings.fee_window_blocks
        if blocks <= 0:
            return 0
        window = range(max(0, height - blocks + 1), height + 1)
        for old in [h for h in self._fees if h not in window]:
            del self._fees[old]
        for h in window:
            if h not in self._fees:
                stats = await self._rpc.call("getblockstats", [h, ["totalfee"]])
                fee = stats["totalfee"]
                if isinstance(fee, bool) or not isinstance(fee, int) or fee < 0:
                    raise RpcError(f"getblockstats {h} answered totalfee={fee!r}")
                self._fees[h] = fee
        return sum(self._fees[h] for h in window) // len(window)


async def run_network_poller(store: NetworkPort, clock: Clock, settings: Settings) -> None:
    """The poller with its own HTTP client, for the server to run as a task."""
    async with httpx.AsyncClient() as client:
        await NetworkPoller(store, clock, settings, client).run()
