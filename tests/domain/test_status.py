"""Worker status moves ACTIVE -> INACTIVE -> DEAD as its last accepted share ages."""

from __future__ import annotations

import numpy as np

from poolstats.domain.status import WorkerStatus, status_counts, worker_status

LAST = 1_700_000_000.0


def test_status_transitions_at_the_thresholds() -> None:
    assert worker_status(LAST, LAST) is WorkerStatus.ACTIVE
    assert worker_status(LAST, LAST + 900) is WorkerStatus.ACTIVE
    assert worker_status(LAST, LAST + 900.5) is WorkerStatus.INACTIVE
    assert worker_status(LAST, LAST + 86400) is WorkerStatus.INACTIVE
    assert worker_status(LAST, LAST + 86400.5) is WorkerStatus.DEAD
    assert worker_status(0, LAST) is WorkerStatus.DEAD  # never accepted a share


def test_thresholds_are_configurable() -> None:
    assert worker_status(LAST, LAST + 120, active_s=60, inactive_s=600) is WorkerStatus.INACTIVE
    assert worker_status(LAST, LAST + 601, active_s=60, inactive_s=600) is WorkerStatus.DEAD


def test_counts_agree_with_the_single_rule() -> None:
    last = np.array([LAST, LAST - 900, LAST - 901, LAST - 86400, LAST - 86401, 0.0])
    counts = status_counts(last, LAST)
    singles = [worker_status(t, LAST) for t in last]
    assert counts == {s: singles.count(s) for s in WorkerStatus}
    assert counts == {WorkerStatus.ACTIVE: 2, WorkerStatus.INACTIVE: 2, WorkerStatus.DEAD: 2}
