"""Jobs: what the pool asks miners to hash, and the recent ones shares may still name.

A share names its job by id; it is checked against that job at the difficulty the job was
sent with (``Session``), so a retarget or a new job never refuses work already under way.
Shares naming a job older than the current block, or one forgotten, are stale.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import itertools
import logging
import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from poolstats.domain.block import prevhash_to_stratum
from poolstats.domain.earnings import subsidy_sat
from poolstats.stratum import protocol
from poolstats.stratum.coinbase import FINAL_SEQUENCE, with_sequence
from poolstats.stratum.getblocktemplate import BlockTemplate, job_of
from poolstats.stratum.shares import Job, JobShares

if TYPE_CHECKING:
    from poolstats.stratum.session import Found

log = logging.getLogger(__name__)

MAX_RETRY_S = 60.0  # the longest pause between two tries for a first template
KEEP_JOBS = 16  # recent jobs a share may still name (a few minutes of refreshes)
#: Static mode's network: the difficulty-1 target, so a CPU miner at 0.0001 rarely finds one.
STATIC_NBITS = 0x1D00FFFF


@dataclass
class Entry:
    job: Job
    clean: bool  # the job starts a new block: older ones are stale
    shares: JobShares

    @functools.cached_property
    def notify_line(self) -> bytes:
        """The ``mining.notify`` line under the job's own id: encoded once, sent to all."""
        return protocol.notify("mining.notify", notify_params(self.job, self.clean))


class JobBook:
    def __init__(self) -> None:
        self._jobs: OrderedDict[str, Entry] = OrderedDict()
        self._ids = itertools.count(1)
        self.current: Entry | None = None

    def next_id(self) -> str:
        """A new job id: a growing counter in hex, so ids compare by ``id_number``."""
        return f"{next(self._ids):x}"

    def add(self, job: Job, clean: bool) -> Entry:
        entry = Entry(job, clean, JobShares())
        if clean:  # a new block: every earlier job is stale
            self._jobs.clear()
        self._jobs[job.job_id] = entry
        while len(self._jobs) > KEEP_JOBS:
            self._jobs.popitem(last=False)
        self.current = entry
        return entry

    def live(self, entry: Entry) -> bool:
        """Whether shares of this job are still taken (it is neither stale nor forgotten)."""
        return self._jobs.get(entry.job.job_id) is entry

    def get(self, job_id: str) -> Entry | None:
        return self._jobs.get(job_id)


def id_number(job_id: str) -> int:
    """The counter behind a ``JobBook.next_id``: a later id has a larger number."""
    return int(job_id, 16)


def notify_params(job: Job, clean: bool) -> list[object]:
    """``mining.notify``'s parameters for a job (``clean``: earlier jobs are stale)."""
    return [
        job.job_id,
        prevhash_to_stratum(job.prevhash),
        job.coinb1.hex(),
        job.coinb2.hex(),
        [b.hex() for b in job.branch],
        f"{job.version:08x}",
        f"{job.nbits:08x}",
        f"{job.ntime:08x}",
        clean,
    ]


def variant(job: Job, job_id: str) -> Job:
    """The job's work under ``job_id`` (one ``JobBook.next_id`` made) with a header of its
    own: the coinbase's sequence is taken from the id. A miner such as cpuminer moves to new
    work only when the header changes, so work resent at a new difficulty must differ from
    the work sent before, or the miner goes on hashing at the old difficulty. Distinct for
    every id (up to 2**32 of them) and never the original's ``FINAL_SEQUENCE``. (A later
    ntime would do too, but would run the block's time ahead of the clock with every
    retarget.)"""
    sequence = id_number(job_id) % FINAL_SEQUENCE
    return dataclasses.replace(job, job_id=job_id, coinb2=with_sequence(job.coinb2, sequence))


class JobSource(Protocol):
    """Where jobs come from: a fixed template (``static``) or a node's ``getblocktemplate``
    (``rpc``). The server asks for a job whenever it sends one (a new block, the periodic
    refresh; a retarget sends a variant of the last under a new id)."""

    async def load(self) -> bool:
        """Fetch the work now (before the first job); whether the chain tip moved."""
        ...

    def job(self, job_id: str, now: int) -> Job:
        """The latest work as a job named ``job_id``."""
        ...

    async def watch(self, new_block: Callable[[], None]) -> None:
        """Run until cancelled; call ``new_block`` when the chain tip moves (earlier jobs
        become stale)."""
        ...

    async def submit(self, found: Found) -> None:
        """Assemble and send a block a share found; record it."""
        ...


async def first_template(source: JobSource, retry_s: float = 1.0) -> None:
    """Wait until the source can make a job (a node that is still starting is asked again,
    with a growing pause)."""
    failures = 0
    while True:
        try:
            await source.load()
            return
        except Exception as exc:  # the node's trouble is logged; it is asked again
            failures += 1
            pause = min(MAX_RETRY_S, retry_s * 2 ** (failures - 1))
            log.warning("no block template yet (%s); trying again in %g s", exc, pause)
            await asyncio.sleep(pause)


@dataclass(frozen=True)
class StaticTemplate:
    """A fixed block to mine, for load tests and demos (``--stratum-jobs static``): no node,
    no transactions, a coinbase paying ``payout_script``; refreshed jobs only move ntime.
    Its jobs are made as a node's are, from a template (``getblocktemplate.job_of``)."""

    height: int
    payout_script: bytes
    tag: bytes = b"/poolstats/"
    nbits: int = STATIC_NBITS
    version: int = 0x20000000
    prevhash: bytes = field(default_factory=lambda: os.urandom(32))

    @functools.cached_property
    def template(self) -> BlockTemplate:
        return BlockTemplate(
            previousblockhash=self.prevhash[::-1].hex(),
            prevhash=self.prevhash,
            version=self.version,
            nbits=self.nbits,
            height=self.height,
            mintime=0,
            reward_sat=subsidy_sat(self.height),
            transactions=(),
            branch=(),
            witness_commitment=None,
            longpollid=None,
        )

    def job(self, job_id: str, now: int) -> Job:
        return job_of(self.template, job_id, now, self.tag, self.payout_script)

    async def load(self) -> bool:
        return False  # always ready, and never moves

    async def watch(self, new_block: Callable[[], None]) -> None:
        await asyncio.Event().wait()  # a fixed template never moves

    async def submit(self, found: Found) -> None:
        """No node to send it to: a block of a static template is only logged."""
        log.info("static template: a share of %s.%s meets the network target (not sent)",
                 found.worker.puid, found.worker.name)  # fmt: skip
