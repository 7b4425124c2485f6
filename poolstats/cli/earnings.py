"""``poolstats network``, ``settle`` and ``payouts``: the network values earnings are computed
from, the settlement of ended days, and the payout batches paid from the settled balances.
Each prints JSON (amounts in satoshis)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from poolstats.cli.common import DataDir, StoreUrl, console, fail, load_settings, open_store

if TYPE_CHECKING:  # imported lazily at run time: the CLI starts fast
    from poolstats.earnings.payouts import BatchFiles
    from poolstats.store.ledger import Batch


def network_set(
    difficulty: Annotated[
        str, typer.Option(help="Network difficulty, as an exact decimal (e.g. 110451907374649.5)")
    ],
    height: Annotated[int, typer.Option(help="Block height in force from --at")],
    fees_per_block: Annotated[
        int, typer.Option(help="Average total fees per block, in satoshis")
    ] = 0,
    at: Annotated[
        int | None, typer.Option(help="Unix seconds from which the values are in force (now)")
    ] = None,
    data_dir: DataDir = None,
    store_url: StoreUrl = None,
) -> None:
    """Record the network values in force from --at; prints the recorded entry as JSON."""

    now = int(time.time())
    when = now if at is None else at
    with open_store(data_dir, store_url) as store:
        try:
            store.record_network(when, difficulty, height, fees_per_block, "cli", now)
        except ValueError as exc:
            raise fail(exc) from exc
        entry = store.network_at(when)
    print(json.dumps(entry))


def network_show(
    at: Annotated[int | None, typer.Option(help="Unix seconds (default: now)")] = None,
    data_dir: DataDir = None,
    store_url: StoreUrl = None,
) -> None:
    """Print the network entry in force at --at as JSON; exit 1 if none is."""

    when = int(time.time()) if at is None else at
    with open_store(data_dir, store_url) as store:
        entry = store.network_at(when)
    if entry is None:
        raise fail(LookupError(f"no network entry is in force at {when}"))
    print(json.dumps(entry))


def settle(
    day: Annotated[
        str | None,
        typer.Option(help="Settle every unsettled UTC day up to this one, YYYY-MM-DD (yesterday)"),
    ] = None,
    data_dir: DataDir = None,
    store_url: StoreUrl = None,
) -> None:
    """Settle earnings of ended UTC days (the server does it after midnight); prints JSON.

    Running it again changes nothing: settled days stay as they are, and shares that arrive
    later for them are settled with the first unsettled day.
    """
    from poolstats.store import ledger

    settings = load_settings(data_dir=data_dir)
    now = int(time.time())
    try:
        fee = settings.fee_rate()
        through = ledger.parse_day(day) if day else ledger.day_start(now) - 86400
        with open_store(settings.data_dir, store_url) as store:
            done = ledger.settle(store, through, now, fee)
    except ValueError as exc:  # LedgerError included
        raise fail(exc) from exc
    last = done.settled_through
    print(
        json.dumps(
            {
                "settled_through": None if last is None else ledger.day_text(last),
                "days": [ledger.day_text(d) for d in done.days],
                "earnings_rows": done.rows,
                "total_sat": done.total_sat,
                "already_settled": done.already,
            }
        )
    )


PayoutsOut = Annotated[
    Path | None,
    typer.Option("--out", help="Folder for the batch files (default: DATA_DIR/payouts)"),
]


def _batch_json(batch: Batch, files: BatchFiles | None = None) -> dict[str, Any]:
    return {
        "batch_id": batch.id,
        "status": batch.status.value,
        "txid": batch.txid,
        "payouts": [
            {"puid": p.puid, "address": p.address, "amount": p.amount_sat} for p in batch.payouts
        ],
        **({"csv": str(files.csv), "sendmany": str(files.sendmany)} if files else {}),
    }


def payouts_create(
    out: PayoutsOut = None, data_dir: DataDir = None, store_url: StoreUrl = None
) -> None:
    """Batch every sub-account whose unpaid balance reaches its minimum payout, write the
    batch as CSV and as sendmany JSON, and print it (amounts in satoshis)."""
    from poolstats.earnings.payouts import write_batch_files
    from poolstats.store import ledger

    settings = load_settings(data_dir=data_dir)
    with open_store(settings.data_dir, store_url) as store:
        new = ledger.create_batch(store, int(time.time()))
    for puid in new.no_address:
        console.print(f"[yellow]puid {puid} is due a payout but has no payout address")
    if new.batch is None:
        print(json.dumps({"batch_id": None, "payouts": []}))
        return
    try:
        files = write_batch_files(new.batch, out or settings.data_dir / "payouts")
    except OSError as exc:
        console.print(
            f"[red]batch {new.batch.id} is recorded but its files were not written ({exc}); "
            f"write them with `poolstats payouts export {new.batch.id}`"
        )
        raise typer.Exit(1) from exc
    print(json.dumps(_batch_json(new.batch, files)))


def payouts_export(
    batch: int, out: PayoutsOut = None, data_dir: DataDir = None, store_url: StoreUrl = None
) -> None:
    """Write a batch's CSV and sendmany files again."""
    from poolstats.earnings.payouts import write_batch_files
    from poolstats.store import ledger

    settings = load_settings(data_dir=data_dir)
    with open_store(settings.data_dir, store_url) as store:
        try:
            found = ledger.batch(store, batch)
        except ValueError as exc:
            raise fail(exc) from exc
    files = write_batch_files(found, out or settings.data_dir / "payouts")
    print(json.dumps(_batch_json(found, files)))


def payouts_confirm(
    batch: int,
    txid: Annotated[str, typer.Option(help="The transaction that paid the batch")],
    data_dir: DataDir = None,
    store_url: StoreUrl = None,
) -> None:
    """Mark a pending batch paid by TXID."""
    from poolstats.store import ledger

    with open_store(data_dir, store_url) as store:
        try:
            done = ledger.confirm_batch(store, batch, txid, int(time.time()))
        except ValueError as exc:
            raise fail(exc) from exc
    print(json.dumps(_batch_json(done)))


def payouts_cancel(batch: int, data_dir: DataDir = None, store_url: StoreUrl = None) -> None:
    """Cancel a pending batch (never sent): its amounts become unpaid again."""
    from poolstats.store import ledger

    with open_store(data_dir, store_url) as store:
        try:
            done = ledger.cancel_batch(store, batch, int(time.time()))
        except ValueError as exc:
            raise fail(exc) from exc
    print(json.dumps(_batch_json(done)))


def payouts_list(data_dir: DataDir = None, store_url: StoreUrl = None) -> None:
    """Every batch with its status and payouts, as JSON lines."""
    from poolstats.store import ledger

    with open_store(data_dir, store_url) as store:
        for found in ledger.batches(store):
            print(json.dumps(_batch_json(found)))
