"""``poolstats user``, ``subaccount`` and ``key``: accounts, their sub-accounts and profiles,
and access keys, in an existing data folder. Each prints what it made or changed as JSON."""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated

import typer

from poolstats.cli.common import DataDir, StoreUrl, console, fail, load_settings, open_store

Account = Annotated[str, typer.Option("--account", help="Name of the existing account")]


def user_create(name: str, data_dir: DataDir = None, store_url: StoreUrl = None) -> None:
    """Create a sub-account (with its account and an access key); prints them as JSON."""

    settings = load_settings(data_dir=data_dir)
    with open_store(settings.data_dir, store_url) as store:
        try:
            user = store.create_user(name, int(time.time()))
        except ValueError as exc:
            console.print(f"[red]{exc}")
            raise typer.Exit(1) from exc
    print(
        json.dumps({"puid": user.puid, "user_name": user.user_name, "access_key": user.access_key})
    )


def subaccount_create(
    name: str, account: Account, data_dir: DataDir = None, store_url: StoreUrl = None
) -> None:
    """Add a sub-account to an existing account; prints its puid as JSON."""
    from poolstats.store.base import UnknownAccount

    with open_store(data_dir, store_url) as store:
        try:
            puid = store.create_subaccount(account, name, int(time.time()))
        except (UnknownAccount, ValueError) as exc:
            raise fail(exc) from exc
    print(json.dumps({"puid": puid, "user_name": name, "account": account}))


def subaccount_set(
    subaccount: Annotated[str, typer.Argument(help="Sub-account name, or puid (all digits)")],
    payment_mode: Annotated[
        str | None, typer.Option(help="Payment mode: PPS (subsidy) or FPPS (plus fees)")
    ] = None,
    fee_rate: Annotated[
        str | None,
        typer.Option(help="Pool fee for this sub-account, e.g. 0.02; 'default': the pool's"),
    ] = None,
    min_payout: Annotated[
        int | None, typer.Option(help="Minimum payout in satoshis (500000 = 0.005 BTC)")
    ] = None,
    address: Annotated[str | None, typer.Option(help="Payout address (Bitcoin mainnet)")] = None,
    nmc_address: Annotated[str | None, typer.Option(help="Namecoin payout address")] = None,
    rebates_address: Annotated[str | None, typer.Option(help="Rebates address")] = None,
    region: Annotated[str | None, typer.Option(help="Region")] = None,
    mail: Annotated[str | None, typer.Option(help="Mail address")] = None,
    phone_country: Annotated[str | None, typer.Option(help="Phone country code")] = None,
    phone_number: Annotated[str | None, typer.Option(help="Phone number")] = None,
    data_dir: DataDir = None,
    store_url: StoreUrl = None,
) -> None:
    """Set profile fields and payout settings of a sub-account; prints the profile as JSON.

    The store checks every value (address checksum, payment mode, fee, minimum), so a
    refusal here says the same as the API's would.
    """

    given: dict[str, str | int | None] = {
        "payment_mode": payment_mode,
        "min_payout_sat": min_payout,
        "address": address,
        "nmc_address": nmc_address,
        "rebates_address": rebates_address,
        "region": region,
        "mail": mail,
        "phone_country": phone_country,
        "phone_number": phone_number,
    }
    fields: dict[str, str | int | None] = {k: v for k, v in given.items() if v is not None}
    if fee_rate is not None:  # None in the store means the pool's fee, so 'default' says so
        fields["fee_rate"] = None if fee_rate.strip().lower() == "default" else fee_rate
    if not fields:
        console.print("[red]nothing to set: give at least one of --payment-mode, --address, ...")
        raise typer.Exit(1)
    with open_store(data_dir, store_url) as store:
        found = int(subaccount) if subaccount.isdigit() else store.puid_of(subaccount)
        if found is None:
            console.print(f"[red]no sub-account is named {subaccount!r}")
            raise typer.Exit(1)
        puid = found
        try:
            updated = store.update_subaccount_profile(puid, fields, int(time.time()))
        except ValueError as exc:
            raise fail(exc) from exc
        if not updated:
            console.print(f"[red]no sub-account has puid {puid}")
            raise typer.Exit(1)
        profile = store.subaccount_profile(puid)
    print(json.dumps(profile))


def key_create(
    account: Account,
    read_only: Annotated[bool, typer.Option("--read-only", help="The key may only read")] = False,
    data_dir: DataDir = None,
    store_url: StoreUrl = None,
) -> None:
    """Create an access key for every sub-account of an account; prints it once, as JSON."""
    from poolstats.store.base import UnknownAccount

    with open_store(data_dir, store_url) as store:
        try:
            key = store.create_key(account, read_only, int(time.time()))
        except UnknownAccount as exc:
            raise fail(exc) from exc
    print(json.dumps({"account": account, "read_only": read_only, "access_key": key}))


def key_revoke(data_dir: DataDir = None, store_url: StoreUrl = None) -> None:
    """Revoke an access key read from standard input (never an argument: shell history and
    process lists would keep it). A running server stops accepting it within key_cache_s."""

    access_key = sys.stdin.readline().strip()
    if not access_key:
        raise fail(ValueError("no access key on standard input"))
    with open_store(data_dir, store_url) as store:
        revoked = store.revoke_key(access_key, int(time.time()))
    if not revoked:
        raise fail(ValueError("unknown or already revoked access key"))
    print(json.dumps({"revoked": True}))
