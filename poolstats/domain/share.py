"""The share event contract and its validation rules, as columns.

Producers send one JSON object per share (see docs/ingest.md). Decoders turn a batch into
``ShareColumns`` (one numpy array per field, names dictionary-encoded) and ``check`` refuses
bad rows with a reason naming the field, so one bad event never spoils the rest of a batch.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field, replace
from enum import IntEnum
from typing import Annotated

import msgspec
import numpy as np

from poolstats.domain.arrays import F64, I64, U8, BoolArray

#: Difficulties are rounded to a multiple of this, so sums of them stay exact in float64
#: up to 2**33 (any worker's or sub-account's bucket in practice); 0.0001 keeps 0.05 %.
DIFF_QUANTUM = 2.0**-20
#: Far above any share difficulty (the network's is ~2**47); larger ones would overflow the
#: engine's float32 worker windows to inf.
MAX_DIFF = 2.0**64
MAX_NAME = 128  # raw worker/login length accepted before normalisation truncates to 20
MAX_USER = 64
MAX_TEXT = 256  # reason, node, agent
MAX_PUID = 2**31 - 1
MIN_TS = 1231006505.0  # the genesis block; anything earlier is a unit mistake (ms, ns)


class Status(IntEnum):
    ACCEPT = 0
    REJECT = 1
    STALE = 2


STATUS_NAMES = {"accept": Status.ACCEPT, "reject": Status.REJECT, "stale": Status.STALE}


# Free text (the engine keeps ``agent`` only): checked by the decoder itself (no cost when
# valid).
Text = Annotated[str, msgspec.Meta(max_length=MAX_TEXT)]


class ShareEvent(msgspec.Struct, gc=False, omit_defaults=True):
    """One share as producers send it; loose types so that ``check`` can name what is wrong."""

    ts: float | None = None
    worker: str | None = None
    diff: float | None = None
    puid: int | None = None
    user: str | None = None
    accepted: bool | None = None
    status: str | None = None
    reason: Text | None = None
    ip: str | None = None
    node: Text | None = None
    agent: Text | None = None


@dataclass(frozen=True)
class ShareColumns:
    """A batch of share events, one array per field.

    Workers are dictionary-encoded as a table of the batch's distinct (puid or user, worker)
    pairs, so that resolving them to engine rows costs one look-up per worker, not per share.
    ``status`` holds a ``Status`` value, 255 where the event gave none, 254 for an unknown one.
    """

    line: I64  # 1-based position in the request, for error messages
    ts: F64
    diff: F64
    status: U8
    worker_idx: I64  # into the worker table
    ip_idx: I64  # into ips; -1: none
    ips: list[str]
    w_puid: I64  # per table entry: the puid, 0 where a user name is given instead, -1 invalid
    w_user: list[str | None]  # per table entry
    w_name: list[str | None]  # per table entry: the worker name as sent (maybe a user.worker)
    # Rows already resolved by the decoder against the engine's index of known workers
    # (-1 where not, and then ``worker_idx`` is used); valid while the index's epoch holds.
    known_row: I64 | None = None
    epoch: int = 0
    # The miner agent per share: an index into ``agents`` (-1: none); None: no agents at all
    # (the columnar format has none).
    agent_idx: I64 | None = None
    agents: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ts)

    def take(self, mask: BoolArray) -> ShareColumns:
        """Rows where ``mask`` holds; the tables are shared, not copied."""
        return replace(
            self,
            line=self.line[mask],
            ts=self.ts[mask],
            diff=self.diff[mask],
            status=self.status[mask],
            worker_idx=self.worker_idx[mask],
            ip_idx=self.ip_idx[mask],
            known_row=None if self.known_row is None else self.known_row[mask],
            agent_idx=None if self.agent_idx is None else self.agent_idx[mask],
        )


NO_STATUS = 255


@dataclass(frozen=True)
class Refusal:
    line: int
    error: str


class Refusals:
    """Collects refused rows; the first message per row wins (it names the first bad field)."""

    def __init__(self, size: int) -> None:
        self.bad = np.zeros(size, dtype=np.bool_)
        self._messages: dict[int, str] = {}

    def add(self, mask: BoolArray, message: str) -> None:
        new = mask & ~self.bad
        if new.any():
            for i in np.flatnonzero(new).tolist():
                self._messages[i] = message
            self.bad |= new

    def add_each(self, mask: BoolArray, messages: list[str]) -> None:
        """Like ``add``, with a message per row (``messages[i]`` for row i)."""
        new = mask & ~self.bad
        if new.any():
            for i in np.flatnonzero(new).tolist():
                self._messages[i] = messages[i]
            self.bad |= new

    def listed(self, lines: I64) -> list[Refusal]:
        return [Refusal(int(lines[i]), m) for i, m in sorted(self._messages.items())]


def check(cols: ShareColumns, now: float, future_s: float) -> tuple[BoolArray, Refusals]:
    """Validate every row and worker-table entry; returns the mask of good rows and the
    refusals of the bad ones. Sub-account existence is checked by whoever knows them."""
    _, refusals = check_rows(cols, now, future_s)
    entry_errors = worker_table_errors(cols)
    if entry_errors:
        for entry, message in entry_errors.items():
            refusals.add(cols.worker_idx == entry, message)
    return ~refusals.bad, refusals


def check_rows(cols: ShareColumns, now: float, future_s: float) -> tuple[BoolArray, Refusals]:
    """The per-row checks of ``check`` (vectorised); the worker table is left to the caller,
    which can skip the entries it already knows to be good."""
    refusals = Refusals(len(cols))
    ts, diff = cols.ts, cols.diff
    with np.errstate(invalid="ignore"):
        refusals.add(np.isnan(ts), "ts: required, unix seconds")
        refusals.add(~np.isfinite(ts) | (ts < MIN_TS), "ts: must be unix seconds after 2009-01-03")
        refusals.add(ts > now + future_s, f"ts: more than {future_s:g} s in the future")
        refusals.add(np.isnan(diff), "diff: required")
        refusals.add(~np.isfinite(diff) | (diff <= 0), "diff: must be a finite number > 0")
        refusals.add(diff < DIFF_QUANTUM, f"diff: below the smallest difficulty {DIFF_QUANTUM:g}")
        refusals.add(diff > MAX_DIFF, f"diff: above the largest difficulty {MAX_DIFF:g}")
    refusals.add(cols.status == NO_STATUS, "accepted: required (or status: accept|reject|stale)")
    refusals.add(cols.status > Status.STALE, "status: must be accept, reject or stale")
    bad_ips = [i for i, ip in enumerate(cols.ips) if not is_ip(ip)]
    if bad_ips:
        refusals.add(np.isin(cols.ip_idx, bad_ips), "ip: not an IPv4 or IPv6 address")
    return ~refusals.bad, refusals


def worker_table_errors(cols: ShareColumns) -> dict[int, str]:
    """What is wrong with each bad worker-table entry (checked once per distinct worker)."""
    errors: dict[int, str] = {}
    for i, entry in enumerate(zip(cols.w_puid.tolist(), cols.w_user, cols.w_name, strict=True)):
        error = entry_error(*entry)
        if error is not None:
            errors[i] = error
    return errors


def entry_error(puid: int, user: str | None, name: str | None) -> str | None:
    """What is wrong with one (puid, user, worker) of a batch's worker table, if anything."""
    if name is None:
        return "worker: required"
    if len(name) > MAX_NAME:
        return f"worker: longer than {MAX_NAME} characters"
    if puid < 0:
        return "puid: must be an integer from 1 to 2147483647"
    if user is not None and len(user) > MAX_USER:
        return f"user: longer than {MAX_USER} characters"
    if puid == 0 and not user and "." not in name:
        return "puid: required (or user, or a worker named user.worker)"
    return None


_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def agent_text(raw: str) -> str:
    """A miner agent as the engine keeps it: control characters dropped (NUL above all,
    which PostgreSQL's text refuses; a stratum miner's subscribe may send anything),
    surrounding spaces stripped, at most ``MAX_TEXT`` characters; "" means none."""
    return _CONTROL.sub("", raw).strip()[:MAX_TEXT]


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def split_login_entry(puid: int, user: str | None, name: str) -> tuple[str | None, str]:
    """The user an entry names (if any) and the worker part of its name.

    A full stratum login ``user.worker`` splits on the first dot; the user part only counts
    when the event gave neither puid nor user (an explicit puid or user wins).
    """
    if "." in name:
        login_user, _, name = name.partition(".")
        if puid == 0 and not user:
            user = login_user
    return user, name


def quantize_diff(diff: F64) -> F64:
    """Round difficulties to ``DIFF_QUANTUM`` so that sums in any order agree exactly."""
    return np.round(diff / DIFF_QUANTUM) * DIFF_QUANTUM
