"""A payout batch as files for the wallet: a CSV for people and Bitcoin Core's ``sendmany``
amounts object (``bitcoin-cli sendmany "" "$(cat batch-N.sendmany.json)"``).

Amounts are written as exact 8-place decimals, never through a float; two sub-accounts paid to
one address are one output (``sendmany`` takes each address once).
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from poolstats.domain.earnings import btc_text
from poolstats.store.ledger import Batch

CSV_COLUMNS = ("batch_id", "puid", "user_name", "address", "amount_sat", "amount_btc")


@dataclass(frozen=True)
class BatchFiles:
    csv: Path
    sendmany: Path


def batch_csv(batch: Batch) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for p in batch.payouts:
        writer.writerow((batch.id, p.puid, p.name, p.address, p.amount_sat, btc_text(p.amount_sat)))
    return out.getvalue()


def sendmany_json(batch: Batch) -> str:
    """``{"address": 0.01234567, ...}``: JSON numbers written from exact decimal text."""
    per_address: dict[str, int] = defaultdict(int)
    for p in batch.payouts:
        per_address[p.address] += p.amount_sat
    items = ",\n".join(f"  {json.dumps(a)}: {btc_text(s)}" for a, s in sorted(per_address.items()))
    return "{\n" + items + "\n}\n"


def write_batch_files(batch: Batch, out_dir: Path) -> BatchFiles:
    """Write both files atomically (a reader never sees half of one)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = BatchFiles(
        out_dir / f"batch-{batch.id}.csv", out_dir / f"batch-{batch.id}.sendmany.json"
    )
    for path, text in ((files.csv, batch_csv(batch)), (files.sendmany, sendmany_json(batch))):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    return files
