"""``poolstats watcher``: a sub-account's watcher links (BTC.COM's observers), made, listed and
revoked from the operator's side, as the API's ``/v1/account/watcher/*`` do for the owner.

A link's token is printed once, by ``create``; the store keeps its hash, so ``list`` shows
the first 8 characters and ``***``. ``revoke`` takes the link's id, not its token (an id is
no secret, so it may go in argv), and stops the token at once on every node.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Annotated

import typer

from poolstats.cli.common import DataDir, StoreUrl, fail, open_store

if TYPE_CHECKING:
    from poolstats.store.base import Store

Subaccount = Annotated[str, typer.Argument(help="Sub-account name, or puid (all digits)")]


def _puid(store: Store, subaccount: str) -> int:
    """The sub-account's puid; exit 1 naming it if there is none."""
    puid = int(subaccount) if subaccount.isdigit() else store.puid_of(subaccount)
    if puid is None or not store.subaccount_exists(puid):
        raise fail(LookupError(f"no sub-account is named {subaccount!r}"))
    return puid


def watcher_create(
    subaccount: Subaccount,
    note: Annotated[str, typer.Option("--note", help="2-20 characters: who the link is for")],
    data_dir: DataDir = None,
    store_url: StoreUrl = None,
) -> None:
    """Make a watcher link reading one sub-account; prints its token once, as JSON."""
    with open_store(data_dir, store_url) as store:
        puid = _puid(store, subaccount)
        try:
            made = store.create_watcher(puid, note, int(time.time()))
        except ValueError as exc:  # the note, or the sub-account's limit of links
            raise fail(exc) from exc
    w = made.watcher
    print(json.dumps({"id": w.id, "puid": w.puid, "note": w.note, "watcher_token": made.token}))


def watcher_list(
    subaccount: Subaccount, data_dir: DataDir = None, store_url: StoreUrl = None
) -> None:
    """The sub-account's watcher links, one JSON object a line, oldest first."""
    from poolstats.domain.watchers import shown_token

    with open_store(data_dir, store_url) as store:
        links = store.watchers(_puid(store, subaccount))
    for w in links:
        shown = {"id": w.id, "puid": w.puid, "watcher_key": shown_token(w.prefix)}
        print(json.dumps({**shown, "note": w.note, "created_at": w.created_at}))


def watcher_revoke(
    subaccount: Subaccount,
    watcher_id: Annotated[int, typer.Argument(help="The link's id (see `watcher list`)")],
    data_dir: DataDir = None,
    store_url: StoreUrl = None,
) -> None:
    """Delete a watcher link: its token opens nothing from now on, on every node."""
    with open_store(data_dir, store_url) as store:
        puid = _puid(store, subaccount)
        if not store.delete_watcher(puid, watcher_id):
            raise fail(LookupError(f"sub-account {subaccount!r} has no watcher link {watcher_id}"))
    print(json.dumps({"revoked": True, "id": watcher_id}))
