"""Holding a lease while running: take it when it is free, renew it, know at once when it is
lost.

A standby polls every ``poll_s`` and takes the lease as soon as it has expired; the holder
renews every ``renew_s``. A holder that cannot renew (the store is down) stops counting itself
the holder once ``ttl_s`` has passed since its last renewal, before any standby can take over,
so two processes never both believe they hold it; the epoch check in each guarded write
(``store.leases.check``) covers the rest (a process paused past its lease).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol

import sqlalchemy as sa

from poolstats.store import leases
from poolstats.threads import in_thread

log = logging.getLogger(__name__)


class Writable(Protocol):
    def write(self) -> AbstractContextManager[sa.Connection]: ...

    def lease_write(self) -> AbstractContextManager[sa.Connection]: ...


def process_id() -> str:
    """This process, as operators find it: host:pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def holder_id() -> str:
    """This process, unique across restarts: host, pid and a random tail."""
    return f"{process_id()}:{secrets.token_hex(3)}"


class Leaseholder:
    def __init__(
        self,
        store: Writable,
        name: str,
        ttl_s: float,
        clock: Callable[[], float] = time.time,
        holder: str | None = None,
    ) -> None:
        self.store = store
        self.name = name
        self.ttl_s = ttl_s
        self.renew_s = ttl_s / 3
        self.poll_s = min(1.0, ttl_s / 6)
        self.clock = clock
        self.holder = holder or holder_id()
        self.epoch = 0  # 0: not held
        self._renewed_at = 0.0  # monotonic time of the last successful take or renewal
        self.changed = asyncio.Event()  # set whenever held/not held flips

    @property
    def held(self) -> bool:
        return self.epoch > 0 and time.monotonic() - self._renewed_at < self.ttl_s

    def try_once(self) -> bool:
        """One attempt to take or renew (blocking: run it in a thread); True when held after."""
        was = self.held
        started = time.monotonic()  # the lease runs from before the write, never from after
        try:
            with self.store.lease_write() as conn:
                now = self.clock()
                epoch: int | None = None
                if self.epoch and leases.renew(
                    conn, self.name, self.holder, self.epoch, now, self.ttl_s
                ):
                    epoch = self.epoch
                if epoch is None:  # not held, or lost: free or expired, it is ours again
                    epoch = leases.acquire(conn, self.name, self.holder, now, self.ttl_s)
        except sa.exc.SQLAlchemyError as exc:
            log.warning("lease %s: store unreachable (%s)", self.name, type(exc).__name__)
        else:
            if epoch is None:
                if self.epoch:
                    log.warning("lease %s: lost to another holder", self.name)
                self.epoch = 0
            else:
                if not self.epoch:
                    log.info("lease %s: taken, epoch %d", self.name, epoch)
                self.epoch = epoch
                self._renewed_at = started
        held = self.held  # once: read again, the lease could run out between the reads
        if not held:
            self.epoch = 0
        if held != was:
            self.changed.set()
        return held

    async def run(self) -> None:
        """Keep trying (standby) or renewing (holder) until cancelled; releases on the way out."""
        try:
            while True:
                held = await in_thread(self.try_once)
                await asyncio.sleep(self.renew_s if held else self.poll_s)
        finally:
            if self.epoch:
                with contextlib.suppress(sa.exc.SQLAlchemyError), self.store.lease_write() as conn:
                    leases.release(conn, self.name, self.holder, self.epoch)
                self.epoch = 0
