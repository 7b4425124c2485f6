"""PPS / FPPS settlement arithmetic: what a sub-account's accepted work earns, in satoshis.

A share of difficulty d is worth ``min(1, d / network_difficulty)`` of a block's reward (the
subsidy, plus the average fees per block under FPPS), less the pool's fee. Money is never a
float here: every amount is an exact ``Fraction`` of a satoshi until ``settle_day`` rounds the
day's sum once, downward, so that splitting the work (a difficulty change, a halving, a batch
boundary) can neither create nor lose a satoshi and the pool never pays more than it owes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction

from poolstats.domain.hashrate import HASHES_PER_DIFF1

COIN = 100_000_000  # satoshis per BTC
MAX_MONEY_SAT = 21_000_000 * COIN  # all the bitcoin there will ever be
HALVING_INTERVAL = 210_000  # blocks
INITIAL_SUBSIDY_SAT = 50 * COIN
#: Bitcoin Core's GetBlockSubsidy: a right shift by 64 or more is undefined in C++, so the
#: subsidy is defined as 0 from the 64th halving on (it is already 0 from the 33rd).
MAX_HALVINGS = 64
FEE_RATE_MAX_DECIMALS = 6
SECONDS_PER_DAY = 86_400
NO_FEE = Fraction(0)

Number = str | int | float | Fraction


class PaymentMode(StrEnum):
    PPS = "PPS"  # the block subsidy only
    FPPS = "FPPS"  # the subsidy plus the average transaction fees per block


def subsidy_sat(height: int) -> int:
    """The block subsidy at ``height``: 50 BTC halved (rounding down, as a right shift)
    every ``HALVING_INTERVAL`` blocks, exactly as the consensus rules compute it."""
    if height < 0:
        raise ValueError(f"height must be >= 0, got {height}")
    halvings = height // HALVING_INTERVAL
    if halvings >= MAX_HALVINGS:
        return 0
    return INITIAL_SUBSIDY_SAT >> halvings


_DECIMAL = re.compile(r"[+-]?([0-9]+)(?:\.([0-9]*))?")  # ASCII digits only


def parse_fee_rate(value: str | Fraction) -> Fraction:
    """The pool's fee as an exact fraction of the reward, from a decimal such as "0.02".

    Refuses anything outside 0 <= rate < 1 or finer than ``FEE_RATE_MAX_DECIMALS`` places
    (a typo such as "0.0225000001" is more likely than a real fee that fine); floats are not
    accepted at all, since "0.1" as a float is not one tenth.
    """
    if isinstance(value, Fraction):
        rate = value
        if (10**FEE_RATE_MAX_DECIMALS) % rate.denominator:
            raise ValueError(
                f"fee rate: at most {FEE_RATE_MAX_DECIMALS} decimal places, got {value}"
            )
    elif isinstance(value, str):
        text = value.strip()
        match = _DECIMAL.fullmatch(text)
        if match is None:
            raise ValueError(f"fee rate: not a decimal number such as 0.02: {value!r}")
        if len(match.group(2) or "") > FEE_RATE_MAX_DECIMALS:
            raise ValueError(
                f"fee rate: at most {FEE_RATE_MAX_DECIMALS} decimal places, got {value!r}"
            )
        rate = Fraction(text)
    else:
        raise TypeError(f"fee rate: give a decimal string or a Fraction, not {type(value)}")
    if not 0 <= rate < 1:
        raise ValueError(f"fee rate: must be >= 0 and < 1, got {value!r}")
    return rate


_BTC = re.compile(r"([0-9]{1,8})(?:\.([0-9]{1,8}))?")  # ASCII digits only


def parse_btc(text: str) -> int:
    """Satoshis from a decimal BTC amount such as "0.005", exactly (never through a float).

    Only plain non-negative decimals with at most 8 places (a satoshi) are accepted: a finer
    amount cannot be paid, and guessing how to round it would change what was asked for.
    Range checks are the caller's, since what is sensible depends on the use.
    """
    match = _BTC.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a BTC amount with at most 8 decimal places: {text!r}")
    whole, frac = match.group(1), match.group(2) or ""
    return int(whole) * COIN + int(frac.ljust(8, "0"))


def btc_text(sat: int) -> str:
    """Satoshis as a BTC decimal with all 8 places ("0.00500000"), the form wallets take."""
    if sat < 0:
        raise ValueError(f"amount cannot be negative, got {sat}")
    return f"{sat // COIN}.{sat % COIN:08d}"


def exact(value: Number) -> Fraction:
    """A number from bitcoind's JSON (e.g. ``83148355189239.77``) as the exact decimal it
    printed. ``Fraction(str(value))``: a float's repr is the shortest decimal that round-trips,
    i.e. the text the node sent, whereas ``Fraction(float)`` would be the binary value's long
    expansion (83148355189239.765625), off by a tiny but real amount."""
    if isinstance(value, Fraction):
        return value
    if isinstance(value, bool):
        raise TypeError("a number, not a bool")
    try:
        return Fraction(str(value))
    except ValueError:
        raise ValueError(f"not a finite decimal number: {value!r}") from None


@dataclass(frozen=True)
class NetworkState:
    """What a share is measured against: the network difficulty and the height of the block
    being mined (its subsidy), and for FPPS the average fees per block."""

    difficulty: Fraction
    height: int
    fees_per_block_sat: int = 0

    def __post_init__(self) -> None:
        if self.difficulty <= 0:
            raise ValueError(f"difficulty must be > 0, got {self.difficulty}")
        if self.height < 0:
            raise ValueError(f"height must be >= 0, got {self.height}")
        if self.fees_per_block_sat < 0:
            raise ValueError(f"fees_per_block_sat must be >= 0, got {self.fees_per_block_sat}")

    @classmethod
    def of(cls, difficulty: Number, height: int, fees_per_block_sat: int = 0) -> NetworkState:
        """From the node's figures, the difficulty converted exactly (see ``exact``)."""
        return cls(exact(difficulty), height, fees_per_block_sat)

    def reward_sat(self, mode: PaymentMode) -> int:
        """What one whole block share is worth before the pool's fee."""
        fees = self.fees_per_block_sat if mode is PaymentMode.FPPS else 0
        return subsidy_sat(self.height) + fees


@dataclass
class Work:
    """One sub-account's accepted work under one ``NetworkState``.

    Shares at or above the network difficulty are capped: each is worth exactly one block
    share, however lucky, so they are counted apart rather than summed as difficulty.
    """

    uncapped_diff: Fraction = field(
        default_factory=Fraction
    )  # Σ difficulty of the shares below the network's
    capped_shares: int = 0  # shares at or above the network difficulty

    def __post_init__(self) -> None:
        if self.uncapped_diff < 0 or self.capped_shares < 0:
            raise ValueError("work cannot be negative")

    @classmethod
    def from_sums(cls, uncapped_diff: Number, capped_shares: int = 0) -> Work:
        """From totals already split at the network difficulty (e.g. a store's sums)."""
        return cls(exact(uncapped_diff), capped_shares)

    def add(self, share_diff: float | int | Fraction, difficulty: Fraction) -> None:
        """Count one accepted share against the network ``difficulty``. Share difficulties
        are multiples of 2**-20 (``share.quantize_diff``), so ``Fraction(float)`` is the
        intended value exactly."""
        diff = Fraction(share_diff)  # exact for a float; refuses nan and inf
        if diff <= 0:
            raise ValueError(f"share difficulty must be > 0, got {share_diff}")
        if diff >= difficulty:
            self.capped_shares += 1
        else:
            self.uncapped_diff += diff

    def __add__(self, other: Work) -> Work:
        return Work(
            self.uncapped_diff + other.uncapped_diff, self.capped_shares + other.capped_shares
        )

    def block_shares(self, difficulty: Fraction) -> Fraction:
        """How many blocks' worth this work is: Σ min(1, d / difficulty)."""
        return self.uncapped_diff / difficulty + self.capped_shares


def earned(work: Work, state: NetworkState, mode: PaymentMode, fee_rate: Fraction) -> Fraction:
    """Exact satoshis ``work`` earns after the pool's fee; not rounded (see ``settle_day``)."""
    if not 0 <= fee_rate < 1:
        raise ValueError(f"fee rate must be >= 0 and < 1, got {fee_rate}")
    return work.block_shares(state.difficulty) * state.reward_sat(mode) * (1 - fee_rate)


def settle_day(parts: Iterable[Fraction]) -> int:
    """A sub-account's payout for a day: the exact sum of its parts, rounded down once.

    Rounding each part would lose up to a satoshi per part (and rounding up or to nearest
    could pay more than the work earned). A negative part is a bug upstream, refused.
    """
    total = Fraction(0)
    for part in parts:
        if part < 0:
            raise ValueError(f"earnings cannot be negative, got {part}")
        total += part
    return math.floor(total)


def settle_parts(
    parts: Iterable[tuple[int, int, NetworkState]],
    units_per_diff: int,
    mode: PaymentMode,
    fee_rate: Fraction,
) -> int:
    """``settle_day`` of the ``earned`` of each part, computed faster.

    A part is (uncapped difficulty in ``1 / units_per_diff`` units, capped shares, state).
    States recorded for a fee update share their difficulty, so the uncapped work is summed
    as integers ``units × reward`` per difficulty and divided once per difficulty: a day of
    hourly states costs two divisions instead of 24 fraction additions, with the same exact
    result."""
    if not 0 <= fee_rate < 1:
        raise ValueError(f"fee rate must be >= 0 and < 1, got {fee_rate}")
    # per state: (the state, kept so its id is not reused; difficulty as a cheap key; reward)
    seen: dict[int, tuple[NetworkState, tuple[int, int], int]] = {}
    by_difficulty: dict[tuple[int, int], int] = {}
    capped = 0
    for units, shares, state in parts:
        if units < 0 or shares < 0:
            raise ValueError("work cannot be negative")
        known = seen.get(id(state))
        if known is None:
            d = state.difficulty
            known = seen[id(state)] = (state, (d.numerator, d.denominator), state.reward_sat(mode))
        _, key, reward = known
        by_difficulty[key] = by_difficulty.get(key, 0) + units * reward
        capped += shares * reward
    total = Fraction(capped) + sum(
        (Fraction(v * d, units_per_diff * n) for (n, d), v in by_difficulty.items()), Fraction(0)
    )
    return math.floor(total * (1 - fee_rate))


def daily_income(
    hashrate_hs: float, state: NetworkState, mode: PaymentMode, fee_rate: Fraction = NO_FEE
) -> Fraction:
    """Exact satoshis a steady ``hashrate_hs`` is expected to earn in a day under ``state``,
    not rounded: what pool status and coins-income show per unit of hashrate, and what
    ``expected_daily_sat`` rounds.

    The day's expected difficulty is ``hashrate × 86400 / 2**32``, computed in float: a
    hashrate is a measurement, not money, and this is the only place a float enters; from
    there the arithmetic is the exact one of ``earned`` (no capping: it is an expectation).
    """
    if not (math.isfinite(hashrate_hs) and hashrate_hs >= 0):
        raise ValueError(f"hashrate_hs must be a finite number >= 0, got {hashrate_hs}")
    expected_diff = Fraction(hashrate_hs * SECONDS_PER_DAY / HASHES_PER_DIFF1)
    return earned(Work(expected_diff), state, mode, fee_rate)


def expected_daily_sat(
    hashrate_hs: float,
    difficulty: Number,
    height: int,
    mode: PaymentMode = PaymentMode.PPS,
    fee_rate: Fraction = NO_FEE,
    fees_per_block_sat: int = 0,
) -> int:
    """An estimate of what a steady ``hashrate_hs`` earns in a day, rounded down once
    (``daily_income`` settled as a day is)."""
    state = NetworkState.of(difficulty, height, fees_per_block_sat)
    return settle_day([daily_income(hashrate_hs, state, mode, fee_rate)])
