"""The ``poolstats`` command: init, serve, api, jobs, demo, user, subaccount, key, watcher,
network, settle, payouts, ingest, simulate, settings.

This module makes the command and its groups and registers every command, in the order
``poolstats --help`` lists them; the commands themselves are in one module per group:

- ``serve.py``: serve, stratum (running a node, a stratum front end)
- ``cluster_demo.py``: cluster-demo (a whole cluster on one machine)
- ``roles.py``: gateway, aggregate, api, jobs (the cluster's roles, one process each)
- ``folder.py``: init, migrate, backup, restore (the data folder and its database)
- ``accounts.py``: user, subaccount, key
- ``watchers.py``: watcher (links that read one sub-account)
- ``earnings.py``: network, settle, payouts
- ``shares.py``: ingest, blocks
- ``demo.py``: simulate, demo (a simulated fleet)
- ``settings.py``: settings
- ``common.py``: what they share: options, the console, the data folder, the node.

Option help and environment variables come from the declarations in ``config.py``. A
command module imports what is heavy (the service, the store, the API) inside the command,
so ``poolstats --help`` starts fast.
"""

from __future__ import annotations

import sys

import typer

from poolstats.cli import (
    accounts,
    cluster_demo,
    demo,
    earnings,
    folder,
    roles,
    serve,
    settings,
    shares,
    watchers,
)

app = typer.Typer(
    help="poolstats: statistics and accounts for a Bitcoin mining pool.",
    no_args_is_help=True,
    add_completion=False,
)
user_app = typer.Typer(help="Sub-accounts and their access keys.", no_args_is_help=True)
app.add_typer(user_app, name="user")
subaccount_app = typer.Typer(
    help="More sub-accounts of an account, and their profiles.", no_args_is_help=True
)
app.add_typer(subaccount_app, name="subaccount")
key_app = typer.Typer(help="Access keys of an account.", no_args_is_help=True)
app.add_typer(key_app, name="key")
watcher_app = typer.Typer(
    help="Watcher links: tokens that read one sub-account.", no_args_is_help=True
)
app.add_typer(watcher_app, name="watcher")
network_app = typer.Typer(
    help="Network difficulty, height and fees per block over time (for earnings).",
    no_args_is_help=True,
)
app.add_typer(network_app, name="network")
payouts_app = typer.Typer(
    help="Payout batches: create them for the wallet, then confirm or cancel them.",
    no_args_is_help=True,
)
app.add_typer(payouts_app, name="payouts")

# `poolstats --help` lists the commands in this order, then the groups above.
app.command()(serve.serve)
app.command()(serve.stratum)
app.command()(roles.gateway)
app.command()(roles.aggregate)
app.command()(roles.api)
app.command()(roles.jobs)
app.command()(folder.init)
app.command()(folder.migrate)
app.command()(folder.backup)
app.command()(folder.restore)
app.command()(earnings.settle)
app.command()(shares.ingest)
app.command()(demo.simulate)
app.command()(demo.demo)
app.command("cluster-demo")(cluster_demo.cluster_demo)
app.command()(shares.blocks)
app.command("settings")(settings.show_settings)

user_app.command("create")(accounts.user_create)
subaccount_app.command("create")(accounts.subaccount_create)
subaccount_app.command("set")(accounts.subaccount_set)
key_app.command("create")(accounts.key_create)
key_app.command("revoke")(accounts.key_revoke)
watcher_app.command("create")(watchers.watcher_create)
watcher_app.command("list")(watchers.watcher_list)
watcher_app.command("revoke")(watchers.watcher_revoke)
network_app.command("set")(earnings.network_set)
network_app.command("show")(earnings.network_show)
payouts_app.command("create")(earnings.payouts_create)
payouts_app.command("export")(earnings.payouts_export)
payouts_app.command("confirm")(earnings.payouts_confirm)
payouts_app.command("cancel")(earnings.payouts_cancel)
payouts_app.command("list")(earnings.payouts_list)


def main() -> None:  # pragma: no cover - console entry point
    sys.exit(app())
