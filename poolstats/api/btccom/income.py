"""``GET /v1/coins-income``: what a TH/s earns a day on the network as it stands, by coin.

Not in BTC.COM's pool documents; its live answer (keyed by coin, ``btc`` here) is what
clients read. Public, as there: clients send ``access_key``, ``puid`` and ``lang`` anyway,
and they are accepted and ignored. The figures come from the network state the ledger
settles with (``domain.mining_income``): ``income_coin`` is PPS (the subsidy),
``income_optimize_coin`` FPPS (the subsidy and the average fees per block), both before the
pool's fee, as BTC.COM's were. Prices (``*_usd``, ``*_cny``) are ``null``: poolstats has no
price feed and will not make one up; nor does it keep block times, so the retarget
estimate (``diff_adjust_time``, ``next_diff``) is ``null`` too. Before any network state is
recorded, no coin is listed (``data`` is ``{}``).
"""

from __future__ import annotations

import math

import msgspec
from fastapi import APIRouter, Response

from poolstats.api.btccom.envelope import Call, endpoint, ok
from poolstats.domain.earnings import COIN, NetworkState
from poolstats.domain.mining_income import INCOME_UNIT, network_hashrate_hs, unit_income

router = APIRouter(tags=["BTC.COM: income"])


class CoinIncome(msgspec.Struct):
    hashrate: float  # the network's, H/s, as the difficulty implies it
    diff: int  # the network difficulty, rounded down
    income_hashrate_unit: str
    income_coin: float  # BTC a day per income_hashrate_unit, PPS
    income_usd: float | None
    income_cny: float | None
    income_optimize_coin: float  # BTC a day per income_hashrate_unit, FPPS
    income_optimize_usd: float | None
    income_optimize_cny: float | None
    diff_adjust_time: int | None
    next_diff: int | None


class CoinsIncome(msgspec.Struct, omit_defaults=True):
    btc: CoinIncome | None = None


def network_now(ctx: Call) -> NetworkState | None:
    """The network state in force at the request's second, as the ledger would value work
    done then; ``None`` before any is recorded."""
    entry = ctx.store.network_at(ctx.now)
    if entry is None:
        return None
    return NetworkState.of(entry["difficulty"], entry["height"], entry["fees_per_block_sat"])


@endpoint(router, "GET", "/v1/coins-income", summary="A day's income per TH/s, by coin",
          answer=CoinsIncome, auth=False)  # fmt: skip
def coins_income(ctx: Call) -> Response:
    state = network_now(ctx)
    if state is None:
        return ok(CoinsIncome())
    income = unit_income(state)
    return ok(
        CoinsIncome(
            btc=CoinIncome(
                hashrate=network_hashrate_hs(state.difficulty),
                diff=math.floor(state.difficulty),
                income_hashrate_unit=INCOME_UNIT,
                income_coin=float(income.pps / COIN),
                income_usd=None,
                income_cny=None,
                income_optimize_coin=float(income.fpps / COIN),
                income_optimize_usd=None,
                income_optimize_cny=None,
                diff_adjust_time=None,
                next_diff=None,
            )
        )
    )
