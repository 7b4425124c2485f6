"""NDJSON share batches -> ``ShareColumns``.

The whole body is decoded in one C call when it is clean; a body with a malformed line is
decoded again line by line so that every other line still counts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import msgspec
import numpy as np

from poolstats.domain.field_error import field_problem
from poolstats.domain.share import (
    MAX_NAME,
    MAX_PUID,
    NO_STATUS,
    STATUS_NAMES,
    Refusal,
    ShareColumns,
    ShareEvent,
    split_login_entry,
)

_DECODER = msgspec.json.Decoder(ShareEvent)
_ACCEPTED = {True: 0, False: 1, None: NO_STATUS}
_BAD_STATUS = 254
_AT_BYTE = re.compile(r"\(byte (\d+)\)$")
_VALUE_OF = re.compile(rb'"([A-Za-z_]+)"\s*:\s*[^",{}\[\]]*$')  # the key whose value is at the end
_IN_STRING_OF = re.compile(rb'"([A-Za-z_]+)"\s*:\s*"[^"]*$')  # the key of the string at the end
_FIELDS = frozenset(ShareEvent.__struct_fields__)


def decode_ndjson(
    body: bytes, index: WorkerIndex | None = None, epoch: int = 0
) -> tuple[ShareColumns, list[Refusal]]:
    """Decode one share per line; lines that are not a JSON share object come back refused.

    ``index`` (and its ``epoch``): see ``events_to_columns``.
    """
    try:
        events: list[ShareEvent] = _DECODER.decode_lines(body)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return _decode_line_by_line(body, index, epoch)
    n_lines = body.count(b"\n") + (0 if body.endswith(b"\n") or not body else 1)
    # decode_lines skips blank lines and splits on any whitespace, so equal counts alone prove
    # nothing (two objects on one line plus a blank line match too). When every line break
    # sits between "}" and "{" (no blank line, no object spanning lines), they do.
    breaks = body.count(b"}\n{")
    if breaks != n_lines - 1:
        breaks += body.count(b"}\r\n{")
    if len(events) != n_lines or breaks != max(n_lines - 1, 0):
        return _decode_line_by_line(body, index, epoch)  # number the lines the slow way
    lines = np.arange(1, len(events) + 1, dtype=np.int64)
    return events_to_columns(events, lines, index, epoch), []


def _decode_line_by_line(
    body: bytes, index: WorkerIndex | None, epoch: int
) -> tuple[ShareColumns, list[Refusal]]:
    events: list[ShareEvent] = []
    lines: list[int] = []
    refused: list[Refusal] = []
    for number, raw in enumerate(body.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            events.append(_DECODER.decode(raw))
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            refused.append(Refusal(number, describe_decode_error(exc, raw)))
            continue
        except RecursionError:  # an unknown member nested past the stack: skipping recurses
            refused.append(Refusal(number, "event: a value is nested too deeply"))
            continue
        lines.append(number)
    return events_to_columns(events, np.array(lines, dtype=np.int64), index, epoch), refused


def describe_decode_error(exc: msgspec.DecodeError | UnicodeDecodeError, raw: bytes = b"") -> str:
    """msgspec says "Expected `float | null`, got `str` - at `$.ts`"; lead with the field.

    Malformed JSON inside a field's value (``"diff": NaN``, as Python's json.dumps writes a
    NaN) names that field too, found from the byte offset msgspec reports in ``raw``; so does
    a string that is not UTF-8.
    """
    # Whether msgspec reports bad UTF-8 as a UnicodeDecodeError or as a DecodeError of its
    # own depends on its version: the line itself is what tells.
    try:
        raw.decode()
    except UnicodeDecodeError as bad:
        key = _IN_STRING_OF.search(raw[: bad.start])
        if key and key.group(1).decode() in _FIELDS:
            return f"{key.group(1).decode()}: not valid UTF-8 ({bad.reason})"
        return f"event: not valid UTF-8 ({bad.reason})"
    field, problem = field_problem(exc)
    if field:
        return f"{field}: {problem}"
    text = str(exc)
    if isinstance(exc, msgspec.ValidationError):
        return f"event: {text}"
    at = _AT_BYTE.search(text)
    key = _VALUE_OF.search(raw[: int(at.group(1))]) if at else None
    if key and key.group(1).decode() in _FIELDS:  # known fields only: the metric label
        return f"{key.group(1).decode()}: not a valid JSON value ({text})"
    return f"event: not a JSON object ({text})"


WorkerIndex = Mapping[int, Mapping[str, int]]  # the engine's: puid -> {worker name: row}

_NONE: Mapping[str, int] = {}


def events_to_columns(
    events: Sequence[ShareEvent],
    lines: np.ndarray,
    index: WorkerIndex | None = None,
    epoch: int = 0,
) -> ShareColumns:
    """Columns from decoded events: one list comprehension per field, then numpy.

    With ``index``, each share's (puid, worker) is looked up among the workers the engine
    already tracks (one dict look-up, the common case); only the others are gathered into
    the worker table, to be checked and resolved once each.
    """
    n = len(events)
    ts = np.array([e.ts for e in events], dtype=np.float64) if n else np.empty(0)
    diff = np.array([e.diff for e in events], dtype=np.float64) if n else np.empty(0)
    status = np.array([_ACCEPTED[e.accepted] for e in events], dtype=np.uint8)
    for i, name in [(i, e.status) for i, e in enumerate(events) if e.status is not None]:
        status[i] = STATUS_NAMES.get(name, _BAD_STATUS)
    known_row = None
    todo: Sequence[ShareEvent] = events
    if index is not None:
        get = index.get
        rows = [
            get(e.puid, _NONE).get(e.worker, -1) if e.user is None else -1  # type: ignore[arg-type]
            for e in events
        ]
        for i in [i for i, row in enumerate(rows) if row < 0]:
            e = events[i]  # a full login user.worker with a puid: the worker part is the name
            if e.user is None and e.worker and "." in e.worker and len(e.worker) <= MAX_NAME:
                worker = split_login_entry(e.puid or 0, None, e.worker)[1]
                rows[i] = get(e.puid, _NONE).get(worker, -1)  # type: ignore[arg-type]
        known_row = np.array(rows, dtype=np.int64)
        missing = np.flatnonzero(known_row < 0)
        todo = [events[i] for i in missing.tolist()]
    table: dict[tuple[int | None, str | None, str | None], int] = {}
    setdefault = table.setdefault
    table_idx = np.array(
        [setdefault((e.puid, e.user, e.worker), len(table)) for e in todo], dtype=np.int64
    )
    if known_row is None:
        worker_idx = table_idx
    else:
        worker_idx = np.full(n, -1, np.int64)
        worker_idx[missing] = table_idx
    ip_idx, ips = dictionary_encode([e.ip for e in events])
    agent_idx, agents = dictionary_encode([e.agent for e in events])
    w_puid = np.array(
        [0 if p is None else (p if 1 <= p <= MAX_PUID else -1) for p, _, _ in table],
        dtype=np.int64,
    )
    return ShareColumns(
        line=lines.astype(np.int64, copy=False),
        ts=ts,
        diff=diff,
        status=status,
        worker_idx=worker_idx,
        ip_idx=ip_idx,
        ips=ips,
        w_puid=w_puid,
        w_user=[u for _, u, _ in table],
        w_name=[w for _, _, w in table],
        known_row=known_row,
        epoch=epoch,
        agent_idx=agent_idx,
        agents=agents,
    )


def dictionary_encode(values: list[str | None]) -> tuple[np.ndarray, list[str]]:
    """Index per value into a list of its distinct values; None becomes -1."""
    table: dict[str | None, int] = {None: -1}
    setdefault = table.setdefault
    idx = np.array([setdefault(v, len(table) - 1) for v in values], dtype=np.int64)
    del table[None]
    return idx, list(table)  # type: ignore[arg-type]
