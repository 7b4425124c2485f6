"""What an answer of ``POST /ingest/shares`` means to a client that posts share batches (the
simulator's sender, a separate stratum process), read one way for both: counted, worth
trying again (and when), too large, refused for good, or a wrong token or URL to hold for.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from enum import Enum
from typing import Any

import httpx


class Verdict(Enum):
    COUNTED = "counted"  # 2xx with an ingest answer: the good lines are journaled
    RETRY = "retry"  # transport error, timeout, 5xx, 408, 429: the node may take it later
    HOLD = "hold"  # token or URL wrong: keep everything until an operator fixes it
    TOO_LARGE = "too_large"  # 413: sent again in halves
    REFUSED = "refused"  # this batch can never be taken as it is


@dataclass(frozen=True)
class Answer:
    verdict: Verdict
    why: str = ""  # what went wrong (never the token)
    retry_after_s: float | None = None
    body: dict[str, Any] | None = None  # the ingest answer of a 2xx


def judge(response: httpx.Response) -> Answer:
    """What one answer of ``POST /ingest/shares`` means for the batch."""
    code = response.status_code
    if 200 <= code < 300:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("accepted"), int):
            return Answer(Verdict.HOLD, f"HTTP {code} without an ingest answer: is "
                          "stratum_ingest_url the node's /ingest/shares?")  # fmt: skip
        return Answer(Verdict.COUNTED, body=body)
    if code in (408, 429) or code >= 500:
        return Answer(Verdict.RETRY, f"HTTP {code}", retry_after_s(response))
    if code == 413:
        return Answer(Verdict.TOO_LARGE, f"HTTP {code}: {response.text[:300]}")
    if code in (400, 415, 422):
        return Answer(Verdict.REFUSED, f"HTTP {code}: {response.text[:300]}")
    if code in (401, 403):
        return Answer(Verdict.HOLD, f"HTTP {code}: the node refuses the ingest token (check "
                      "ingest_token here and on the node)")  # fmt: skip
    return Answer(Verdict.HOLD, f"HTTP {code}: is stratum_ingest_url the node's /ingest/shares?")


def refused_count(body: dict[str, Any]) -> int:
    """Events of a counted batch the node did not take (a field at fault): ``refused``, or
    ``rejected`` from a node older than that name; 0 when neither is a count."""
    for name in ("refused", "rejected"):
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return max(value, 0)
    return 0


def retry_after_s(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (a number or an HTTP date), None when absent or unreadable."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None
