"""Worker names and ids, compatible with BTC.COM's pool (btcpool's ``filterWorkerName``)."""

from __future__ import annotations

import hashlib
import re

DEFAULT_WORKER_NAME = "__default__"
MAX_WORKER_NAME = 20
_UNWANTED = re.compile(r"[^A-Za-z0-9\-._:|^/]")


def normalize_worker_name(name: str) -> str:
    """Keep only ``[A-Za-z0-9-._:|^/]``, truncate to 20 characters, empty -> ``__default__``."""
    kept = _UNWANTED.sub("", name)[:MAX_WORKER_NAME]
    return kept or DEFAULT_WORKER_NAME


def split_login(login: str) -> tuple[str, str]:
    """Split a stratum login ``user.worker`` on the first dot; no dot means no worker part."""
    user, _, worker = login.partition(".")
    return user, worker


def worker_id(name: str) -> int:
    """Signed int64 from the first 16 hex digits of the byte-reversed double SHA-256 of the name.

    The name is used as given (normalise it first). 0 is reserved, so it maps to 1.
    """
    digest = hashlib.sha256(hashlib.sha256(name.encode()).digest()).digest()
    value = int.from_bytes(digest[::-1][:8], "big", signed=True)
    return value or 1
