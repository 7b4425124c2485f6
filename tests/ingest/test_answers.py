"""How both share-posting clients read the count of refused events in an ingest answer."""

from __future__ import annotations

from typing import Any

import pytest

from poolstats.ingest.answers import refused_count


@pytest.mark.parametrize(
    ("body", "count"),
    [
        ({"accepted": 5, "refused": 3, "rejected": 3, "errors": []}, 3),  # this node
        ({"accepted": 5, "rejected": 2, "errors": []}, 2),  # a node from before the rename
        ({"accepted": 5, "refused": 4}, 4),
        ({"accepted": 5, "errors": []}, 0),
        ({"accepted": 5, "refused": "7", "rejected": 1}, 1),  # not a count: the other name
        ({"accepted": 5, "refused": True}, 0),  # a bool is no count
        ({"accepted": 5, "refused": -2}, 0),
    ],
)
def test_refused_count_reads_the_new_name_then_the_old(body: dict[str, Any], count: int) -> None:
    assert refused_count(body) == count
