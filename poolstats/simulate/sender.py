"""Post a simulated fleet's shares to ``POST /ingest/shares``, as a stratum server would.

Shares are never dropped silently: a batch that fails (connection error, 5xx, 429) stays
queued and is resent after a backoff, while the fleet keeps producing. Only when the backlog
covers more than ``max_backlog_s`` of share time are the oldest shares dropped, and counted.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from poolstats.ingest.answers import Verdict, judge, refused_count
from poolstats.ingest.columnar import CONTENT_TYPE as COLUMNAR_CONTENT_TYPE
from poolstats.simulate.fleet import Fleet, Shares

NDJSON_CONTENT_TYPE = "application/x-ndjson"
MAX_SHARES_PER_REQUEST = 200_000
MAX_STEP_S = 60.0  # the longest span the fleet is advanced by at once
Format = Literal["ndjson", "columnar"]


class IngestError(RuntimeError):
    """The server refused the shares in a way retrying cannot fix (a 4xx, a garbled answer)."""


class IngestAuthError(IngestError):
    """HTTP 401/403: the ingest token is wrong; stop rather than hammer the server."""


@dataclass(frozen=True)
class BatchResult:
    """One request the server answered with 200."""

    shares: int
    accepted: int
    refused: int  # events the server did not take (a field at fault)
    errors: list[dict[str, Any]]  # as the server sent them: {"line": i, "error": "..."}
    attempts: int  # 1 + failed tries since the previous success
    elapsed_s: float  # of the successful request
    backlog: int  # shares still queued after this request


@dataclass
class Totals:
    """Running counts; pass one in to ``run`` to read them even if the run is cancelled.

    In the end ``generated == delivered + dropped + undelivered``.
    """

    generated: int = 0  # shares the fleet produced
    delivered: int = 0  # shares in requests answered 200
    accepted: int = 0  # as the server counted them
    refused: int = 0  # events the server did not take (not the fleet's rejected shares)
    errors: int = 0  # error entries in the answers (lines the server refused)
    dropped: int = 0  # oldest shares dropped because the backlog exceeded max_backlog_s
    undelivered: int = 0  # still queued when the run ended (drain_timeout_s ran out)
    requests: int = 0  # answered with 200
    failures: int = 0  # attempts that failed and were retried
    last_error: str | None = None


async def run(
    url: str,
    token: str,
    fleet: Fleet,
    *,
    fmt: Format = "ndjson",
    interval_s: float = 1.0,
    duration_s: float | None = None,
    clock: Callable[[], float] = time.time,
    on_batch: Callable[[BatchResult], None] | None = None,
    totals: Totals | None = None,
    max_shares_per_request: int = MAX_SHARES_PER_REQUEST,
    max_backlog_s: float = 300.0,
    backoff_initial_s: float = 0.5,
    backoff_max_s: float = 30.0,
    timeout_s: float = 30.0,
    drain_timeout_s: float = 30.0,
    client: httpx.AsyncClient | None = None,
) -> Totals:
    """Every ``interval_s``, advance ``fleet`` to ``clock()`` and post what it produced.

    ``url`` is the full ingest URL (``http://host:port/ingest/shares``). ``duration_s`` is
    measured on ``clock`` (so an accelerated clock runs a long simulated span quickly);
    ``None`` runs until cancelled. At the end the backlog is drained for up to
    ``drain_timeout_s``. Pacing uses the event loop's monotonic clock, not ``clock``.
    Raises ``IngestAuthError`` on 401/403 and ``IngestError`` on other 4xx answers.
    """
    sender = _Sender(
        url=url,
        token=token,
        fmt=fmt,
        totals=totals if totals is not None else Totals(),
        on_batch=on_batch,
        max_shares=max_shares_per_request,
        backoff=(backoff_initial_s, backoff_max_s),
    )
    own_client = client is None
    http = client if client is not None else httpx.AsyncClient(timeout=timeout_s)
    loop = asyncio.get_running_loop()
    t_end = None if duration_s is None else clock() + duration_s
    try:
        next_tick = loop.time()
        while True:
            now = clock() if t_end is None else min(clock(), t_end)
            while fleet.time < now:  # a long gap (a backfill) in steps: memory stays bounded
                sender.enqueue(fleet.advance(min(now, fleet.time + MAX_STEP_S)))
                sender.drop_older_than(now - max_backlog_s)
            if loop.time() >= sender.retry_at:
                await sender.flush(http)
            if t_end is not None and now >= t_end:
                break
            next_tick = max(next_tick + interval_s, loop.time())
            await asyncio.sleep(next_tick - loop.time())
        drain_until = loop.time() + drain_timeout_s
        while sender.queue and loop.time() < drain_until:
            await asyncio.sleep(max(0.0, min(sender.retry_at, drain_until) - loop.time()))
            await sender.flush(http)
        sender.totals.undelivered = sender.backlog()
        return sender.totals
    finally:
        if own_client:
            await http.aclose()


class _Sender:
    """The queue of unsent shares and the logic to post, retry, split and drop them."""

    def __init__(
        self,
        *,
        url: str,
        token: str,
        fmt: Format,
        totals: Totals,
        on_batch: Callable[[BatchResult], None] | None,
        max_shares: int,
        backoff: tuple[float, float],
    ) -> None:
        if fmt not in ("ndjson", "columnar"):
            raise ValueError(f"fmt: must be ndjson or columnar, not {fmt!r}")
        if max_shares < 1:
            raise ValueError("max_shares_per_request: must be >= 1")
        self.url = url
        self.fmt = fmt
        self.headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": NDJSON_CONTENT_TYPE if fmt == "ndjson" else COLUMNAR_CONTENT_TYPE,
        }
        self.totals = totals
        self.on_batch = on_batch
        self.limit = max_shares  # lowered when the server answers 413
        self.backoff_initial, self.backoff_max = backoff
        self.backoff = self.backoff_initial
        self.retry_at = 0.0  # event-loop time before which no request is made
        self.attempts = 1
        self.queue: deque[Shares] = deque()
        # The request being tried: the same parts under the same Idempotency-Key until it is
        # answered, so a retry after a lost answer is not counted twice by the server.
        self.inflight: tuple[Shares, int, str] | None = None

    def backlog(self) -> int:
        return sum(len(p) for p in self.queue)

    def enqueue(self, shares: Shares) -> None:
        self.totals.generated += len(shares)
        for start in range(0, len(shares), self.limit):
            self.queue.append(shares.slice(start, start + self.limit))

    def drop_older_than(self, cutoff: float) -> None:
        """Bound the backlog: whole queued parts whose newest share is before ``cutoff``."""
        while self.queue and self.queue[0].ts[-1] < cutoff:
            self.totals.dropped += len(self.queue.popleft())
            self.inflight = None

    def _next_request(self) -> tuple[Shares, int]:
        """Queued parts (oldest first) merged up to ``limit`` shares, and how many parts."""
        first = self.queue[0]
        if len(first) > self.limit:  # the limit dropped after a 413: split in place
            self.queue.popleft()
            pieces = [first.slice(i, i + self.limit) for i in range(0, len(first), self.limit)]
            self.queue.extendleft(reversed(pieces))
        parts: list[Shares] = []
        size = 0
        for part in self.queue:
            if parts and size + len(part) > self.limit:
                break
            parts.append(part)
            size += len(part)
        return Shares.concat(parts), len(parts)

    async def flush(self, http: httpx.AsyncClient) -> None:
        """Post queued shares until the queue is empty or a request fails (then back off)."""
        loop = asyncio.get_running_loop()
        while self.queue:
            if self.inflight is None:
                batch, n_parts = self._next_request()
                self.inflight = (batch, n_parts, uuid.uuid4().hex)
            batch, n_parts, key = self.inflight
            body = batch.to_ndjson() if self.fmt == "ndjson" else batch.to_columnar()
            headers = {**self.headers, "Idempotency-Key": key}
            started = loop.time()
            try:
                response = await http.post(self.url, content=body, headers=headers)
            except httpx.TransportError as exc:
                self._failed(f"{type(exc).__name__}: {exc}", None)
                return
            code, answer = response.status_code, judge(response)
            if answer.verdict is Verdict.RETRY:
                self._failed(f"{answer.why}: {response.text[:200]}", answer.retry_after_s)
                return
            if code in (401, 403):
                raise IngestAuthError(
                    f"HTTP {code} from {self.url}: the ingest token was refused "
                    f"(check the token the server was started with)"
                )
            if answer.verdict is Verdict.TOO_LARGE:
                if len(batch) <= 1:
                    raise IngestError(f"HTTP 413 from {self.url} for a single share")
                self.limit = max(1, len(batch) // 2)
                self.inflight = None  # refused unread: split it under new keys
                continue
            if answer.body is None:  # refused for good, or not the ingest endpoint
                raise IngestError(f"{answer.why} (from {self.url})")
            for _ in range(n_parts):
                self.queue.popleft()
            self.inflight = None
            self._succeeded(batch, answer.body, loop.time() - started)

    def _failed(self, error: str, retry_after: float | None) -> None:
        loop = asyncio.get_running_loop()
        self.totals.failures += 1
        self.totals.last_error = error
        self.attempts += 1
        delay = self.backoff * random.uniform(0.8, 1.2)  # jitter: many senders, no lockstep
        if retry_after is not None:
            delay = min(max(retry_after, delay), self.backoff_max)
        self.retry_at = loop.time() + delay
        self.backoff = min(self.backoff * 2, self.backoff_max)

    def _succeeded(self, batch: Shares, answer: dict[str, Any], elapsed_s: float) -> None:
        errors = list(answer.get("errors") or [])
        result = BatchResult(
            shares=len(batch),
            accepted=int(answer.get("accepted", 0)),
            refused=refused_count(answer),
            errors=errors,
            attempts=self.attempts,
            elapsed_s=elapsed_s,
            backlog=self.backlog(),
        )
        t = self.totals
        t.requests += 1
        t.delivered += result.shares
        t.accepted += result.accepted
        t.refused += result.refused
        t.errors += len(errors)
        self.attempts = 1
        self.backoff = self.backoff_initial
        self.retry_at = 0.0
        if self.on_batch is not None:
            self.on_batch(result)
