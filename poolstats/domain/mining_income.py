"""What one unit of hashrate earns a day on the network as it stands, and the network's
hashrate implied by its difficulty: the figures of BTC.COM's pool status and coins-income.

The income is the ledger's own rule (``earnings.daily_income``): PPS values a share at the
block subsidy, FPPS adds the average fees per block. It is shown before the pool's fee, as
BTC.COM showed it (its documented example, 0.00048282 BTC per TH/s a day at difficulty
520808749422 and a 12.5 BTC subsidy, is exactly the fee-free figure), so that it reads the
same at every pool and is a property of the network, not of one sub-account's terms.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from poolstats.domain.earnings import NetworkState, PaymentMode, daily_income, subsidy_sat
from poolstats.domain.hashrate import hashrate_hs

TARGET_BLOCK_S = 600  # the spacing the difficulty is retargeted to keep
INCOME_UNIT = "T"  # incomes are per TH/s, as BTC.COM gave them
INCOME_UNIT_HS = 1e12


def network_hashrate_hs(difficulty: Fraction) -> float:
    """The hashrate that finds a block every ``TARGET_BLOCK_S`` on average at ``difficulty``.

    poolstats records the difficulty, not block times, so this is the network's hashrate as
    the difficulty prices it: exact when blocks come every 10 minutes, and off by as much as
    the blocks since the last retarget came faster or slower."""
    return hashrate_hs(float(difficulty), TARGET_BLOCK_S)


@dataclass(frozen=True)
class UnitIncome:
    """Exact satoshis one ``INCOME_UNIT`` of steady hashrate earns a day, before any fee."""

    pps: Fraction
    fpps: Fraction


def unit_income(state: NetworkState) -> UnitIncome:
    return UnitIncome(
        pps=daily_income(INCOME_UNIT_HS, state, PaymentMode.PPS),
        fpps=daily_income(INCOME_UNIT_HS, state, PaymentMode.FPPS),
    )


def fpps_rate(state: NetworkState) -> Fraction | None:
    """How much more FPPS pays than PPS, as a fraction: the fees per block over the subsidy
    (``None`` once the subsidy is gone, where the ratio has no meaning)."""
    subsidy = subsidy_sat(state.height)
    return Fraction(state.fees_per_block_sat, subsidy) if subsidy else None
