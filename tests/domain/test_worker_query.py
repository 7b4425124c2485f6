"""What a worker list may ask for: only whitelisted orders (a request never chooses SQL
text) and no negative window."""

from __future__ import annotations

from typing import Any

import pytest

from poolstats.domain.worker_query import WorkerQuery

NOW = 1_700_000_000


@pytest.mark.parametrize(
    "bad",
    [
        {"order_by": "worker_id; DROP TABLE workers"},
        {"order_by": "updated_at"},  # a workers column, but no order a list offers
        {"order_by": "miner_agent"},
        {"offset": -1},
        {"limit": -1},
    ],
)
def test_worker_query_refuses_unknown_orders_and_negative_windows(bad: dict[str, Any]) -> None:
    field = next(iter(bad))
    with pytest.raises(ValueError, match="order workers by" if field == "order_by" else field):
        WorkerQuery(now=NOW, **bad)
