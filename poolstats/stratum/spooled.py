"""A stratum process's share batches on their way to where they are counted, a node over
HTTP (``stratum.remote``) or the share bus (``stratum.to_bus``): sent at once, or kept on
this machine's disk (the ``Spool``) until they are.

Why it is built this way (the same guarantees, whichever the destination):
- A miner is answered once its share is safe: counted by the destination or on this
  machine's disk. A batch is tried for ``Timing.live_s`` at the most, since miners wait for
  their answers, then spooled. While the destination is known not to take batches, new ones
  go to the spool at once: miners wait for an fsync, not for timeouts.
- A batch keeps one key from its first attempt on, in the spool too (the Idempotency-Key of
  a node, the message ids on the bus), so a batch that was counted but whose answer was lost
  counts once however often it is sent again.
- The drain sends spooled batches oldest first (a spool left by an earlier run included)
  and deletes each only after it was counted; while the destination is down it backs off,
  and it probes with one batch at a time.
- Each answer (``ingest.answers.Answer``) is handled for what it means: a counted batch is
  done (the lines it refuses are the destination's verdict, logged, not retried); RETRY is
  tried again; TOO_LARGE is sent again in halves; REFUSED is set aside in the spool's
  ``refused/``; HOLD (a wrong token or URL) is kept and retried, and logged loudly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import Histogram

from poolstats.ingest.answers import Answer, Verdict, refused_count
from poolstats.ingest.idempotency import MAX_KEY
from poolstats.stratum.spool import Spool
from poolstats.threads import in_thread

log = logging.getLogger(__name__)
RETRY_AFTER_CAP_S = 60.0  # a Retry-After longer than this is not waited for in full
LOG_REFUSALS_EVERY_S = 60.0


@dataclass(frozen=True)
class Timing:
    live_s: float = 2.0  # a batch is tried this long before it is spooled (miners wait)
    first_backoff_s: float = 0.05  # doubled after each failure
    max_backoff_s: float = 5.0  # the drain's longest wait while the destination is down
    request_timeout_s: float = 30.0  # one drain attempt (a big batch, a busy journal)
    parallel: int = 4  # drain attempts at once (a node takes 4 batches at a time)


class SpooledIngest(ABC):
    """``ShareSink``'s ``ingest``: one NDJSON batch to its destination, or to the spool;
    ``run`` is the drain. Call from one thread at a time (the sink's worker thread).

    A destination implements one attempt twice: ``_attempt`` for the live path (a worker
    thread, bounded by ``timeout_s``) and ``_attempt_spooled`` for the drain (the event
    loop); ``_draining`` holds what the drain needs while it runs."""

    def __init__(self, where: str, spool: Spool, timing: Timing | None = None) -> None:
        self.where = where  # the destination as logs name it (never a password)
        self.spool = spool
        self.timing = timing or Timing()
        self._lock = threading.Lock()
        self._problem: str | None = None  # set while the destination does not take batches
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._refusals_logged_at = -LOG_REFUSALS_EVERY_S
        self.posted = 0  # batches counted when first sent
        self.spooled = 0  # batches written to the spool
        self.drained = 0  # spooled batches counted (their files are deleted)
        self.halved = 0  # spooled batches found too large, replaced by halves
        self.set_aside = 0  # spooled batches moved to refused/
        self.refused_lines = 0  # share events refused in batches that were counted
        # each attempt's duration by verdict (``StratumMetrics.post_seconds``), when given
        self.attempt_seconds: Histogram | None = None

    @abstractmethod
    def _attempt(self, body: bytes, key: str, timeout_s: float) -> Answer:
        """Send one batch once, from the sink's worker thread, within ``timeout_s``."""

    @abstractmethod
    async def _attempt_spooled(self, body: bytes, key: str) -> Answer:
        """Send one spooled batch once, from the drain."""

    @contextlib.asynccontextmanager
    async def _draining(self) -> AsyncIterator[None]:
        """What the drain holds while it runs (a client, a connection)."""
        yield

    def close(self) -> None:  # noqa: B027 - not abstract: a destination may hold nothing
        """Release what the live path holds."""

    # -- the live path (a worker thread) ------------------------------------------------------

    def __call__(self, body: bytes) -> None:
        key = uuid.uuid4().hex
        answer = Answer(Verdict.RETRY, self._problem or "")
        if self._problem is None:  # else the destination is known down: straight to disk
            answer = self._send_now(body, key)
            if answer.verdict is Verdict.COUNTED:
                self.posted += 1
                return
        self.spool.write(key, body)  # raises when full: the miners are not told it is safe
        self.spooled += 1
        if answer.verdict is Verdict.RETRY or answer.verdict is Verdict.HOLD:
            self._trouble(answer)  # else the destination is fine, only this batch is not:
            # the drain halves a batch that is too large and sets aside one it can never take
        self._wake_drain()

    def _send_now(self, body: bytes, key: str) -> Answer:
        deadline = time.monotonic() + self.timing.live_s
        delay = self.timing.first_backoff_s
        while True:
            timeout = max(deadline - time.monotonic(), 0.05)
            began = time.perf_counter()
            answer = self._seen(self._timed(began, self._attempt(body, key, timeout)))
            if answer.verdict is not Verdict.RETRY:
                return answer
            wait = min(answer.retry_after_s, RETRY_AFTER_CAP_S) if answer.retry_after_s else 0.0
            wait = max(wait, delay)
            if time.monotonic() + wait >= deadline:
                return answer
            time.sleep(wait)  # a backoff between attempts, bounded by live_s
            delay *= 2

    # -- the drain (the event loop) -----------------------------------------------------------

    async def run(self) -> None:
        """Send spooled batches, oldest first, until cancelled."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        delay = self.timing.first_backoff_s
        async with self._draining():
            while True:
                self._wake.clear()  # before listing: a batch spooled later wakes the wait
                paths = await in_thread(self.spool.batches)
                if not paths:
                    await self._wake.wait()
                    continue
                try:
                    stalled = await self._send_spooled(paths)
                except OSError:  # the spool's disk: try again, never stop draining
                    log.exception("stratum: the spool %s failed", self.spool.directory)
                    stalled = 0.0
                if stalled is None:
                    delay = self.timing.first_backoff_s
                    continue
                wait = max(stalled, delay) * random.uniform(0.8, 1.2)  # no lockstep with peers
                await asyncio.sleep(wait)  # the destination is down: back off
                delay = min(delay * 2, self.timing.max_backoff_s)

    async def _send_spooled(self, paths: list[Path]) -> float | None:
        """Send ``paths`` a few at a time; None once all are done, else how long to wait.

        While the destination is known not to take batches, one batch goes at a time: a
        probe. More would only fail together, and a node counts each failure against this
        address (a wrong token 20 times a minute and it answers 429 for the rest of the
        minute, also once the token is right again)."""
        step = 1 if self._problem is not None else self.timing.parallel
        for start in range(0, len(paths), step):
            waits = await asyncio.gather(*(self._send_one(p) for p in paths[start : start + step]))
            pending = [w for w in waits if w is not None]
            if pending:
                return max(pending)
        return None

    async def _send_one(self, path: Path) -> float | None:
        try:
            key, body = await in_thread(self.spool.read, path)
        except FileNotFoundError:
            return None
        began = time.perf_counter()
        answer = self._seen(self._timed(began, await self._attempt_spooled(body, key)))
        if answer.verdict is Verdict.COUNTED:
            self.drained += 1
            await in_thread(self.spool.remove, path)
            return None
        if answer.verdict is Verdict.TOO_LARGE:
            if await in_thread(self._split, path, key, body):
                return None
            answer = Answer(Verdict.REFUSED, answer.why)  # one line: nothing smaller to send
        if answer.verdict is Verdict.REFUSED:
            self.set_aside += 1
            kept = await in_thread(self.spool.refuse, path)
            log.error("stratum: %s refused a spooled batch for good (%s); it is kept in %s "
                      "and will not be sent again", self.where, answer.why, kept)  # fmt: skip
            return None
        self._trouble(answer)
        return min(answer.retry_after_s or 0.0, RETRY_AFTER_CAP_S)

    def _split(self, path: Path, key: str, body: bytes) -> bool:
        """Replace a batch found too large by its two halves, under keys made from its own:
        split again after a crash, the same halves get the same keys."""
        lines = body.splitlines(keepends=True)
        if len(lines) < 2 or len(key) + 2 > MAX_KEY:
            return False
        middle = len(lines) // 2
        self.spool.write(key + "-1", b"".join(lines[:middle]))
        self.spool.write(key + "-2", b"".join(lines[middle:]))
        self.spool.remove(path)
        self.halved += 1
        return True

    def _wake_drain(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nothing to wake
                loop.call_soon_threadsafe(wake.set)

    # -- answers and state --------------------------------------------------------------------

    def _timed(self, began: float, answer: Answer) -> Answer:
        if self.attempt_seconds is not None:
            seconds = time.perf_counter() - began
            self.attempt_seconds.labels(answer.verdict.value).observe(seconds)
        return answer

    def _seen(self, answer: Answer) -> Answer:
        """A counted batch means the destination takes batches again."""
        if answer.verdict is Verdict.COUNTED:
            self._recovered()
            assert answer.body is not None
            self._note_refusals(answer.body)
        return answer

    def _trouble(self, answer: Answer) -> None:
        """The destination did not take a batch: the next ones go straight to the spool."""
        with self._lock:
            changed = answer.why != self._problem
            self._problem = answer.why or "no answer"
        if changed:
            level = logging.ERROR if answer.verdict is Verdict.HOLD else logging.WARNING
            log.log(level, "stratum: %s does not take shares (%s); they are kept in %s until "
                    "it does", self.where, self._problem, self.spool.directory)  # fmt: skip

    def _recovered(self) -> None:
        with self._lock:
            was, self._problem = self._problem, None
        if was is not None:
            log.warning("stratum: %s takes shares again", self.where)

    def _note_refusals(self, body: dict[str, Any]) -> None:
        """Lines the destination refused are its verdict (a clock ahead of its own, a
        bound): sending them again cannot change it, so they are counted and logged."""
        refused = refused_count(body)
        if refused <= 0:
            return
        with self._lock:
            self.refused_lines += refused
            now = time.monotonic()
            if now - self._refusals_logged_at < LOG_REFUSALS_EVERY_S:
                return
            self._refusals_logged_at = now
            total = self.refused_lines
        errors = body.get("errors") or [{}]
        first = errors[0].get("error", "?") if isinstance(errors[0], dict) else "?"
        log.warning("stratum: %s refused %d share(s) of a batch (%s); %d so far",
                    self.where, refused, first, total)  # fmt: skip
