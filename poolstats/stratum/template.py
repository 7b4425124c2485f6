"""Stratum jobs from a Bitcoin Core node (``--stratum-jobs rpc``), and found blocks sent back.

Why it is built this way:
- Two loops watch the node. A long poll (``longpollid``) is kept open for as long as the node
  holds it, so a new block reaches the miners within moments; and a plain
  ``getblocktemplate`` every ``stratum_template_poll_s`` keeps fees current and is the
  fallback when long polls fail. The long poll is never abandoned on a short timeout: Bitcoin
  Core keeps a worker thread in it until it answers, and a few abandoned ones use up its RPC
  threads.
- Through RPC errors the last template is kept and served, and the node is asked again after
  a backoff that doubles up to ``MAX_BACKOFF_S``; each failure is logged.
- A found block is sent at once; it is recorded (``record``, a callable the caller supplies:
  the store in a node, something else in a separate stratum process) while it is on its way,
  then again with the node's verdict. A connection error is retried a few times
  (``submitblock`` of a block the node already has answers ``duplicate``). Every block is
  logged, and one not accepted is logged with its hex, so nothing is lost if recording fails.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx

from poolstats.clock import Clock
from poolstats.config import Settings
from poolstats.domain.block import display_hash, sha256d
from poolstats.domain.found_block import BlockStatus, FoundBlock, verdict
from poolstats.domain.payout_address import output_script
from poolstats.metrics import Metrics
from poolstats.network.bitcoind import REQUEST_TIMEOUT_S, RpcClient, RpcError
from poolstats.store.base import Transactions
from poolstats.store.blocks import BlockStore
from poolstats.stratum.coinbase import split_coinbase
from poolstats.stratum.getblocktemplate import (
    RULES,
    BlockTemplate,
    assemble_block,
    job_of,
    parse_template,
)
from poolstats.stratum.shares import Job
from poolstats.threads import in_thread

if TYPE_CHECKING:
    from poolstats.stratum.session import Found

log = logging.getLogger(__name__)

Record = Callable[[FoundBlock], None]  # run in a worker thread: it may block

MAX_BACKOFF_S = 60.0
#: Long polls wait for the node (Bitcoin Core answers at the latest a minute after its mempool
#: changes); this only ends one whose connection died silently.
LONG_POLL_TIMEOUT_S = 900.0
#: A "long poll" answered sooner than this with the same tip is a node that does not hold
#: them: the next one waits ``poll_s`` first, so it is never a busy loop.
MIN_LONG_POLL_S = 1.0
SUBMIT_TIMEOUT_S = 60.0
SUBMIT_RETRIES = 3


class RpcTemplate:
    """A ``JobSource`` fed by ``getblocktemplate``; ``await load()`` before the first job."""

    def __init__(
        self,
        rpc: RpcClient,
        payout_script: bytes,
        tag: bytes,
        poll_s: float,
        record: Record | None = None,
        retry_s: float = 1.0,
    ) -> None:
        """``retry_s``: the first wait after a failed request (doubled up to
        ``MAX_BACKOFF_S``) and between ``submitblock`` attempts."""
        self._rpc = rpc
        self._payout = payout_script
        self._tag = tag
        self._poll_s = poll_s
        self._record = record
        self._retry_s = retry_s
        self.template: BlockTemplate | None = None
        self.fetched_at = 0.0  # monotonic seconds of the last template

    # -- templates ------------------------------------------------------------------------

    async def load(self) -> bool:
        """Fetch a template now; ``True`` if its tip differs from the last one's.
        ``RpcError``, ``httpx.HTTPError`` or ``ValueError`` if the node cannot give one."""
        return await self._fetch({"rules": list(RULES)}, REQUEST_TIMEOUT_S)

    async def _fetch(self, request: dict[str, Any], timeout: float) -> bool:
        template = parse_template(await self._rpc.call("getblocktemplate", [request], timeout))
        last, self.template, self.fetched_at = self.template, template, time.monotonic()
        return last is not None and last.previousblockhash != template.previousblockhash

    def job(self, job_id: str, now: int) -> Job:
        if self.template is None:
            raise RuntimeError("no block template yet: await load() first")
        return job_of(self.template, job_id, now, self._tag, self._payout)

    async def watch(self, new_block: Callable[[], None]) -> None:
        """Long poll and poll until cancelled; ``new_block`` when the tip moves."""
        if self.template is None:
            await self.load()
        await asyncio.gather(self._poll(new_block), self._long_poll(new_block))

    async def _poll(self, new_block: Callable[[], None]) -> None:
        failures = 0
        while True:
            await asyncio.sleep(self._backoff(failures) if failures else self._poll_s)
            try:
                moved = await self.load()
            except Exception as exc:  # anything: miners keep the last template meanwhile
                failures += 1
                log.warning(
                    "getblocktemplate from %s failed: %s; serving height %s (%.0f s old), "
                    "next try in %g s",
                    self._rpc.where,
                    self._rpc.describe(exc),
                    self.template.height if self.template else "-",
                    time.monotonic() - self.fetched_at,
                    self._backoff(failures),
                )
                continue
            if failures:
                log.info("getblocktemplate from %s works again", self._rpc.where)
                failures = 0
            if moved:
                new_block()

    async def _long_poll(self, new_block: Callable[[], None]) -> None:
        failures = 0
        while True:
            current = self.template
            if current is None or current.longpollid is None:
                return  # a node without long polls: the periodic poll alone
            started = time.monotonic()
            request = {"rules": list(RULES), "longpollid": current.longpollid}
            try:
                moved = await self._fetch(request, LONG_POLL_TIMEOUT_S)
            except Exception as exc:  # the periodic poll logs the node's trouble
                failures += 1
                log.debug("long poll of %s failed: %s", self._rpc.where, self._rpc.describe(exc))
                await asyncio.sleep(self._backoff(failures))
                continue
            failures = 0
            if moved:
                new_block()
            elif time.monotonic() - started < MIN_LONG_POLL_S:
                await asyncio.sleep(self._poll_s)

    def _backoff(self, failures: int) -> float:
        return float(min(MAX_BACKOFF_S, self._retry_s * 2 ** (failures - 1)))

    # -- blocks ---------------------------------------------------------------------------

    async def submit(self, found: Found) -> None:
        """Send the block, record it on its way and again with the node's verdict."""
        job, checked = found.job, found.checked
        block = FoundBlock(
            height=job.height,
            hash=display_hash(sha256d(checked.header)),
            puid=found.worker.puid,
            worker=found.worker.name,
            reward_sat=job.reward_sat,
            found_at=int(found.ts),
        )
        raw = assemble_block(checked.header, checked.coinbase, job).hex()
        log.info("block %s at height %d found by %s.%s (%d sat): submitting",
                 block.hash, block.height, block.puid, block.worker, block.reward_sat)  # fmt: skip
        recorded = asyncio.create_task(self._store(block))
        status, reason = await self._submit_block(raw)
        await recorded
        block = dataclasses.replace(block, status=status, reason=reason)
        if status is BlockStatus.ACCEPTED:
            log.info("block %s at height %d accepted", block.hash, block.height)
        else:
            log.warning("block %s at height %d %s (%s); its hex: %s",
                        block.hash, block.height, status.value, reason, raw)  # fmt: skip
        await self._store(block)

    async def _submit_block(self, raw: str) -> tuple[BlockStatus, str]:
        failed = ""
        for attempt in range(1 + SUBMIT_RETRIES):
            if attempt:
                await asyncio.sleep(self._retry_s * attempt)
            try:
                answer = await self._rpc.call("submitblock", [raw], timeout=SUBMIT_TIMEOUT_S)
            except httpx.TransportError as exc:  # may not have arrived: try again
                failed = self._rpc.describe(exc)
                log.warning("submitblock to %s failed (try %d of %d): %s",
                            self._rpc.where, attempt + 1, 1 + SUBMIT_RETRIES, failed)  # fmt: skip
                continue
            except RpcError as exc:  # refused whole: a block that does not decode, a bad login
                return BlockStatus.REJECTED, self._rpc.scrub(str(exc))
            return verdict(answer)
        return BlockStatus.SUBMITTED, f"not sent: {failed}"

    async def _store(self, block: FoundBlock) -> None:
        if self._record is None:
            return
        try:
            await in_thread(self._record, block)
        except Exception:  # the log keeps the block; the submission goes on
            log.exception("block %s could not be recorded as %s", block.hash, block.status.value)


def store_recorder(store: Transactions, clock: Clock, metrics: Metrics | None = None) -> Record:
    """``record`` for a source in the node's process: the store's ``blocks`` table, and
    ``poolstats_blocks_total`` by status."""
    blocks = BlockStore(store)

    def record(block: FoundBlock) -> None:
        if blocks.record(block, int(clock.now())) and metrics is not None:
            metrics.blocks.labels(block.status.value).inc()

    return record


def payout_script(settings: Settings) -> bytes:
    """The output script of ``stratum_payout_address``, or ``ValueError`` naming it."""
    try:
        return output_script(settings.stratum_payout_address)
    except ValueError as exc:
        raise ValueError(f"stratum_payout_address: {str(exc).removeprefix('address: ')}") from None


def coinbase_tag(settings: Settings) -> bytes:
    """``stratum_tag`` as the coinbase carries it, or ``ValueError`` naming it."""
    tag = settings.stratum_tag.encode()
    try:
        split_coinbase(1, tag, [])
    except ValueError as exc:
        raise ValueError(f"stratum_tag: {exc}") from None
    return tag


def rpc_template(
    settings: Settings,
    client: httpx.AsyncClient,
    record: Record | None = None,
    retry_s: float = 1.0,
) -> RpcTemplate:
    """The source ``stratum_jobs=rpc`` needs, or ``ValueError`` naming the setting that is
    missing or invalid (``bitcoind_url``, ``stratum_payout_address``, ``stratum_tag``,
    ``stratum_template_poll_s``). ``await load()`` it before serving."""
    if not settings.bitcoind_url:
        raise ValueError("bitcoind_url: stratum_jobs=rpc needs the node's JSON-RPC URL")
    try:
        url = httpx.URL(settings.bitcoind_url)
    except httpx.InvalidURL:  # its message may quote the URL, and a password in it
        raise ValueError("bitcoind_url: not a valid URL") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("bitcoind_url: an http:// or https:// URL with a host is needed")
    if not settings.stratum_payout_address:
        raise ValueError("stratum_payout_address: stratum_jobs=rpc needs the address it pays")
    payout, tag = payout_script(settings), coinbase_tag(settings)
    if not settings.stratum_template_poll_s > 0:
        raise ValueError("stratum_template_poll_s: must be more than 0 seconds")
    rpc = RpcClient.from_settings(settings, client)
    return RpcTemplate(rpc, payout, tag, settings.stratum_template_poll_s, record, retry_s)
