"""submitblock's answers (BIP 22, as Bitcoin Core gives them) as a block's status."""

from __future__ import annotations

import pytest

from poolstats.domain.found_block import BlockStatus, verdict


@pytest.mark.parametrize(
    ("answer", "status", "reason"),
    [
        (None, BlockStatus.ACCEPTED, ""),
        ("duplicate", BlockStatus.ACCEPTED, "duplicate"),  # a retry whose first try arrived
        ("inconclusive", BlockStatus.SUBMITTED, "inconclusive"),
        ("duplicate-inconclusive", BlockStatus.SUBMITTED, "duplicate-inconclusive"),
        ("high-hash", BlockStatus.REJECTED, "high-hash"),
        ("duplicate-invalid", BlockStatus.REJECTED, "duplicate-invalid"),
        ("", BlockStatus.REJECTED, "rejected without a reason"),
        ("x" * 500, BlockStatus.REJECTED, "x" * 200),
        (True, BlockStatus.SUBMITTED, "unexpected answer True"),
    ],
)
def test_submitblock_answers_give_a_status_and_reason(
    answer: object, status: BlockStatus, reason: str
) -> None:
    assert verdict(answer) == (status, reason)
