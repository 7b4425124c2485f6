"""Tangpool's earnings document (收益数据): the balance and the payout records.

Amounts are integer satoshis in the ledger and BTC numbers in Tangpool's answers, written
with their 8 decimals exactly (``common.Btc``). As in Tangpool, each settled UTC day becomes
one payout record: unpaid or in a pending batch it has no ``tx_id`` yet (""), and its
address is the one it was (or is being) paid to, "" before a batch takes it.
"""

from __future__ import annotations

import msgspec
from fastapi import APIRouter

from poolstats.api.tangpool.common import Ask, Btc, PageParams, page_fields, route
from poolstats.api.tangpool.common import Page as PageAnswer
from poolstats.domain.earnings import SECONDS_PER_DAY
from poolstats.domain.hashrate import hashrate_hs, pick_unit
from poolstats.store import ledger

router = APIRouter(tags=["Tangpool: earnings"])
RECORDS_PER_PAGE = 15  # Tangpool's page of payout records


class TangpoolProfit(msgspec.Struct):
    total_payout: Btc  # paid so far
    today_profit: Btc  # today's, settled or estimated from the work booked so far
    total_balance: Btc  # settled and not paid yet (pending batches included)


@route(router, "/profit", summary="Paid, today's and awaiting payment, in BTC",
       answer=TangpoolProfit)  # fmt: skip
def profit(ask: Ask) -> TangpoolProfit:
    puid = ask.puid()
    fee = ask.service.settings.fee_rate()
    b = ledger.balance(ask.store, puid, ask.now, fee)
    return TangpoolProfit(
        total_payout=Btc(b.total_paid),
        today_profit=Btc(b.today),
        total_balance=Btc(b.unpaid + b.pending),
    )


class TangpoolTransaction(msgspec.Struct):
    amount: Btc
    payout_percent: str  # "100": a day is paid whole, to one address
    ymd: str  # the UTC day earned, YYYY-MM-DD
    payout_address: str
    user_id: str
    tx_id: str
    share_unit: str
    share_avg: str  # the day's average accepted hashrate, 3 decimals


class TangpoolTransactionList(PageAnswer):
    data: list[TangpoolTransaction]


@route(router, "/profit/transaction", summary="Payout records, one per settled day, 15 a page",
       answer=TangpoolTransactionList, params=PageParams)  # fmt: skip
def transactions(ask: Ask) -> TangpoolTransactionList:
    puid = ask.puid()
    p = ask.args(PageParams)
    offset = (p.page - 1) * RECORDS_PER_PAGE
    total, days = ledger.earnings_page(ask.store, puid, offset, RECORDS_PER_PAGE)
    items = []
    for day in days:
        rate = hashrate_hs(day.accepted_diff, SECONDS_PER_DAY)
        unit, size = pick_unit([rate])
        items.append(
            TangpoolTransaction(
                amount=Btc(day.amount_sat),
                payout_percent="100",
                ymd=ledger.day_text(day.day),
                payout_address=day.address,
                user_id=str(puid),
                tx_id=day.txid,
                share_unit=unit,
                share_avg=f"{rate / size:.3f}",
            )
        )
    return TangpoolTransactionList(
        **page_fields(p.page, RECORDS_PER_PAGE, total, len(items)), data=items
    )
