"""The sender against a real HTTP server on 127.0.0.1 that answers like /ingest/shares.

The server decodes bodies with the service's own decoders and can be scripted to fail
(503, a dropped connection, 413), so exactly-once delivery is checked end to end.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from poolstats.ingest.columnar import CONTENT_TYPE, decode_columnar
from poolstats.ingest.ndjson import decode_ndjson
from poolstats.simulate.fleet import Fleet, Shares
from poolstats.simulate.sender import BatchResult, IngestAuthError, Totals, run
from tests.nodes import free_port
from tests.simulate.rows import Row, share_rows

START = 1_700_000_000.0
TOKEN = "s3cret"


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (a cancelled sender) is not a server error worth a trace."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class IngestServer:
    """``POST /ingest/shares`` in a thread; ``script`` says how to treat each request in turn
    ("503", "close" = read the body then hang up without answering, "lost" = store the
    batch, then hang up: the answer is lost, "ok"), then all are ok. Like poolstats, it
    answers a repeated Idempotency-Key as the first time without storing again."""

    def __init__(self, script: list[str] | None = None, max_shares: int | None = None) -> None:
        self.script = deque(script or [])
        self.max_shares = max_shares
        self.rows: list[Row] = []  # every share accepted into the "store", in arrival order
        self.answers: list[int] = []  # HTTP status per request (0: connection closed)
        self.request_sizes: list[int] = []
        self.content_types: set[str] = set()
        self.keys: dict[str, Any] = {}  # Idempotency-Key -> first answer
        self.replays = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else header and body wait for a delayed ACK

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                code, answer = server.handle(self.path, dict(self.headers), body)
                if code == 0:
                    self.close_connection = True
                    return
                payload = json.dumps(answer).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/ingest/shares"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        with self.lock:
            code, answer = self._handle(path, headers, body)
            self.answers.append(code)
            return code, answer

    def _handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        if path != "/ingest/shares":
            return 404, {"detail": "not found"}
        if headers.get("Authorization") != f"Bearer {TOKEN}":
            return 401, {"detail": "bad ingest token"}
        action = self.script.popleft() if self.script else "ok"
        if action == "503":
            return 503, {"detail": "shutting down"}
        if action == "close":
            return 0, None
        key = headers.get("Idempotency-Key", "")
        if key in self.keys:
            self.replays += 1
            return 200, self.keys[key]
        ctype = headers.get("Content-Type", "")
        self.content_types.add(ctype)
        cols, refused = decode_columnar(body) if ctype == CONTENT_TYPE else decode_ndjson(body)
        if refused:  # the sender raises IngestError on a 400: the test fails loudly
            return 400, {"detail": [f"{r.line}: {r.error}" for r in refused[:5]]}
        if self.max_shares is not None and len(cols) > self.max_shares:
            return 413, {"detail": "body too large"}
        self.request_sizes.append(len(cols))
        self.rows.extend(share_rows(cols))
        accepted = int((cols.status == 0).sum())
        answer = {"accepted": accepted, "refused": len(cols) - accepted, "errors": []}
        if key:
            self.keys[key] = answer
        return (0, None) if action == "lost" else (200, answer)

    def ok_requests(self) -> int:
        with self.lock:
            return self.answers.count(200)

    def __enter__(self) -> IngestServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


class RecordingFleet(Fleet):
    """A real fleet that also keeps what it produced, to compare with what arrived."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.produced: list[Shares] = []

    def advance(self, now: float) -> Shares:
        shares = super().advance(now)
        self.produced.append(shares)
        return shares

    def rows(self) -> list[Row]:
        return list(Shares.concat(self.produced).rows())


def fast_clock(speed: float) -> Callable[[], float]:
    """Simulated time running ``speed`` times faster than real time, from START at the first
    call (so a run's duration ends exactly at START + duration_s)."""
    t0: list[float] = []

    def clock() -> float:
        now = time.monotonic()
        if not t0:
            t0.append(now)
        return START + (now - t0[0]) * speed

    return clock


def make_fleet(workers_per_user: int = 5) -> RecordingFleet:
    return RecordingFleet(["alice", "bob", "carol"], workers_per_user, seed=42, start=START)


@pytest.fixture
def server() -> Iterator[IngestServer]:
    with IngestServer() as s:
        yield s


FAST: dict[str, Any] = {"interval_s": 0.02, "backoff_initial_s": 0.01, "backoff_max_s": 0.05}


@pytest.mark.parametrize("fmt", ["ndjson", "columnar"])
def test_every_share_arrives_once_and_answers_are_counted(server: IngestServer, fmt: Any) -> None:
    fleet = make_fleet()
    batches: list[BatchResult] = []
    totals = asyncio.run(
        run(
            server.url,
            TOKEN,
            fleet,
            fmt=fmt,
            duration_s=300.0,
            clock=fast_clock(600.0),
            on_batch=batches.append,
            **FAST,
        )
    )
    produced = fleet.rows()
    assert len(produced) > 200
    assert server.rows == produced  # each share once, in order
    assert fleet.time == START + 300.0
    assert server.content_types == {"application/x-ndjson" if fmt == "ndjson" else CONTENT_TYPE}
    accepted = sum(1 for r in produced if r[4] == 0)
    assert (totals.generated, totals.delivered, totals.dropped, totals.undelivered) == (
        len(produced),
        len(produced),
        0,
        0,
    )
    assert (totals.accepted, totals.refused) == (accepted, len(produced) - accepted)
    assert totals.requests == len(batches) == server.ok_requests() and totals.failures == 0
    assert sum(b.shares for b in batches) == len(produced)


def test_503s_and_a_dropped_connection_are_retried_without_loss_or_duplicates() -> None:
    with IngestServer(script=["503", "503", "503", "close", "ok", "503"]) as server:
        fleet = make_fleet()
        batches: list[BatchResult] = []
        totals = asyncio.run(
            run(
                server.url,
                TOKEN,
                fleet,
                fmt="columnar",
                duration_s=300.0,
                clock=fast_clock(600.0),
                on_batch=batches.append,
                **FAST,
            )
        )
    assert server.rows == fleet.rows()
    assert server.answers[:6] == [503, 503, 503, 0, 200, 503]
    assert totals.failures == 5 and totals.undelivered == 0 and totals.dropped == 0
    assert totals.delivered == totals.generated == len(server.rows)
    assert batches[0].attempts == 5  # the first success came after four failed tries


def test_a_lost_answer_is_retried_under_the_same_key_and_stored_once() -> None:
    with IngestServer(script=["lost"]) as server:
        fleet = make_fleet()
        totals = asyncio.run(
            run(server.url, TOKEN, fleet, duration_s=120.0, clock=fast_clock(600.0), **FAST)
        )
    assert server.answers[:2] == [0, 200]  # stored but unanswered, then answered by its key
    assert server.replays == 1
    assert server.rows == fleet.rows()  # every share once
    assert totals.delivered == totals.generated == len(server.rows)


def test_413_makes_requests_smaller_and_max_shares_per_request_is_respected() -> None:
    with IngestServer(max_shares=40) as server:
        fleet = make_fleet(workers_per_user=20)
        totals = asyncio.run(
            run(
                server.url,
                TOKEN,
                fleet,
                duration_s=300.0,
                clock=fast_clock(1200.0),
                max_shares_per_request=100,
                **FAST,
            )
        )
    assert 413 in server.answers
    assert server.rows == fleet.rows()
    assert max(server.request_sizes) <= 40
    assert totals.delivered == totals.generated == len(server.rows) > 200


def test_401_stops_with_a_clear_error_and_no_retries(server: IngestServer) -> None:
    fleet = make_fleet()
    with pytest.raises(IngestAuthError, match=r"HTTP 401 .*ingest token"):
        asyncio.run(
            run(server.url, "wrong", fleet, duration_s=300.0, clock=fast_clock(600.0), **FAST)
        )
    assert server.answers == [401]


def test_backlog_is_bounded_by_dropping_the_oldest_and_counting_them() -> None:
    """15 refused tries, backing off >= 8 ms then >= 16 ms each, keep the server away for
    >= 0.23 s real = 280 s simulated: nine times the 30 s the backlog may hold."""
    with IngestServer(script=["503"] * 15) as server:
        fleet = make_fleet()
        totals = asyncio.run(
            run(
                server.url,
                TOKEN,
                fleet,
                duration_s=600.0,
                clock=fast_clock(1200.0),
                max_backlog_s=30.0,
                **{**FAST, "backoff_max_s": 0.02},
            )
        )
    produced = fleet.rows()
    assert totals.dropped > 0 and totals.undelivered == 0
    assert totals.generated == len(produced) == totals.delivered + totals.dropped
    assert server.rows == produced[totals.dropped :]  # exactly the oldest ones went


def test_an_unreachable_server_leaves_the_shares_counted_as_undelivered() -> None:
    port = free_port()  # nobody listens there
    fleet = make_fleet()
    totals = asyncio.run(
        run(
            f"http://127.0.0.1:{port}/ingest/shares",
            TOKEN,
            fleet,
            duration_s=60.0,
            clock=fast_clock(600.0),
            drain_timeout_s=0.1,
            **FAST,
        )
    )
    assert totals.generated > 0 and totals.undelivered == totals.generated
    assert totals.failures > 0 and totals.last_error is not None
    assert "Connect" in totals.last_error


def test_runs_until_cancelled_and_totals_stay_readable(server: IngestServer) -> None:
    async def scenario() -> Totals:
        totals = Totals()
        task = asyncio.create_task(
            run(server.url, TOKEN, fleet, clock=fast_clock(600.0), totals=totals, **FAST)
        )
        deadline = time.monotonic() + 10.0
        while totals.requests < 3:  # wait for the condition, with a deadline
            assert time.monotonic() < deadline, "the sender never got 3 batches through"
            assert not task.done(), task
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return totals

    fleet = make_fleet()
    totals = asyncio.run(scenario())
    assert totals.requests >= 3
    # The request in flight at cancellation may have reached the server unacknowledged.
    assert 0 < totals.delivered <= len(server.rows)
    assert server.rows == fleet.rows()[: len(server.rows)]


def test_a_fleet_started_long_before_the_clock_is_backfilled_within_the_backlog_bound(
    server: IngestServer,
) -> None:
    """An hour of history at once: it is generated in steps, and only the last
    ``max_backlog_s`` (give or take one step) is kept and sent; the rest is counted."""
    fleet = RecordingFleet(["alice", "bob"], 5, seed=3, start=START - 3600.0)
    totals = asyncio.run(
        run(
            server.url,
            TOKEN,
            fleet,
            duration_s=10.0,
            clock=fast_clock(600.0),
            max_backlog_s=300.0,
            **FAST,
        )
    )
    produced = fleet.rows()
    assert max(len(s) for s in fleet.produced) < len(produced) / 10  # advanced in steps
    assert totals.dropped > 0 and totals.undelivered == 0
    assert totals.generated == len(produced) == totals.delivered + totals.dropped
    assert server.rows == produced[totals.dropped :]
    assert START - 300.0 - 60.0 <= server.rows[0][0] < START - 300.0 + 60.0
