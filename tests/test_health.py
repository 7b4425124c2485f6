"""/healthz tells the truth: 503 with the reason while ingest cannot take shares, ok again
once it can. The failures are real ones, provoked on real ``poolstats serve`` processes:
a new journal segment that cannot be created (poisons the journal), and a write past the
process's file size limit (RLIMIT_FSIZE: EFBIG, cut back off, not poisoned)."""

from __future__ import annotations

import resource
import time
from pathlib import Path

import pytest

from poolstats.domain.health import Facts, append_failure_report_s, judge, stale_after_s
from poolstats.ingest.journal import segment_name
from tests.nodes import Node, create_user, shares, stored_counts, wait_for

pytestmark = pytest.mark.slow


def test_a_journal_that_cannot_start_a_segment_is_reported_until_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    create_user(data)
    # 25-byte segments: every record after a segment's first starts a new segment
    node = Node(data, settings={"journal_segment_bytes": 25})
    now = time.time()
    for i in range(3):
        assert node.post(shares(f"w{i}", 10, now - 5)).status_code == 200
    assert node.health().status_code == 200
    # seq 4 needs segment 4; a directory of that name makes its creation fail (EEXIST)
    (data / "journal" / segment_name(4)).mkdir()
    refused = node.post(shares("w3", 10, now - 5))
    assert refused.status_code == 503
    health = node.health()
    assert health.status_code == 503
    body = health.json()
    assert (body["status"], body["ingest"]) == ("degraded", "refusing")
    assert len(body["reasons"]) == 1 and body["reasons"][0].startswith("journal: ")
    assert segment_name(4) in body["reasons"][0] and "restart" in body["reasons"][0]
    assert node.post(shares("w4", 10, now - 5)).status_code == 503  # poisoned: stays so

    node.kill()
    (data / "journal" / segment_name(4)).rmdir()
    again = Node(data)
    health = again.health()
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert again.post(shares("w5", 10, now - 5)).status_code == 200
    wait_for(lambda: len(stored_counts(data)) == 4, 30, "the flush")
    again.stop()
    assert stored_counts(data) == {"w0": 10, "w1": 10, "w2": 10, "w5": 10}


LIMIT = 8 * 2**20  # the server's file size limit: room for the database, not for two batches


def _limit_file_size() -> None:  # runs in the child before exec; Python ignores SIGXFSZ
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))


def test_a_failed_write_is_reported_until_it_ages_or_a_batch_is_stored_again(
    tmp_path: Path,
) -> None:
    """A failed write keeps /healthz at 503 only while recent: a node a load balancer took
    out of rotation gets no append that could clear it, and must come back on its own."""
    data = tmp_path / "data"
    create_user(data)
    node = Node(data, preexec_fn=_limit_file_size, settings={"flush_interval_s": 1})
    window = append_failure_report_s(1.0)
    now = time.time()
    big = shares("big", 60_000, now - 5)  # ~5 MB: one fits under the limit, two do not
    assert LIMIT // 2 < len(big) < LIMIT - 2**20
    assert node.post(big).status_code == 200
    before_failure = time.monotonic()
    refused = node.post(shares("big2", 60_000, now - 5))
    assert refused.status_code == 503
    health = node.health()
    assert health.status_code == 503
    body = health.json()
    assert (body["status"], body["ingest"]) == ("degraded", "refusing")
    assert body["reasons"][0].startswith("journal: the last append failed")
    segment = data / "journal" / segment_name(1)
    assert segment.stat().st_size < LIMIT  # the partial record was cut back off

    # no append comes: health is ok again once the failure is older than the window
    wait_for(lambda: node.health().status_code == 200, window + 30, "the failure to age")
    assert time.monotonic() - before_failure >= window
    assert (node.health().json()["status"], node.health().json()["reasons"]) == ("ok", [])

    assert node.post(shares("big3", 60_000, now - 5)).status_code == 503  # fails again
    assert node.health().status_code == 503
    assert node.post(shares("small", 10, now - 5)).status_code == 200  # fits: stored
    health = node.health()
    assert health.status_code == 200
    assert (health.json()["status"], health.json()["reasons"]) == ("ok", [])
    wait_for(lambda: len(stored_counts(data)) == 2, 30, "the flush")
    node.stop()
    assert stored_counts(data) == {"big": 60_000, "small": 10}


def test_a_lagging_store_is_degraded_but_keeps_ingest_in_rotation() -> None:
    fine = Facts(None, 0, None, 1.0, 10.0)
    assert (judge(fine).status, judge(fine).http_status, judge(fine).reasons) == ("ok", 200, ())
    failing = judge(Facts(None, 2, "OperationalError: disk I/O error", 12.0, 10.0))
    assert (failing.status, failing.http_status, failing.ingest) == ("degraded", 200, "ok")
    assert len(failing.reasons) == 1 and "2 flush(es)" in failing.reasons[0]
    stale = judge(Facts(None, 0, None, stale_after_s(10.0) + 1, 10.0))
    assert (stale.status, stale.http_status, len(stale.reasons)) == ("degraded", 200, 1)
    assert stale_after_s(0.2) == 10.0 and stale_after_s(10.0) == 30.0
    both = judge(Facts("the journal is closed", 1, "x", 100.0, 10.0))
    assert (both.http_status, both.ingest, len(both.reasons)) == (503, "refusing", 3)
