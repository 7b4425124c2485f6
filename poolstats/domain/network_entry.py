"""What a network entry (difficulty, height, fees per block, who recorded it) may hold, and the
one spelling of a difficulty: the rules every store backend and the poller share."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

NETWORK_SOURCES: tuple[str, ...] = ("cli", "rpc")  # who recorded a network_history entry
_DIFFICULTY_EXP = 40  # bounds the decimal exponent, so no input expands into a huge string


def normalise_difficulty(difficulty: str) -> str:
    """The exact decimal text of a difficulty > 0, without exponent or trailing zeros.

    Kept as text, never a float: settlement divides by it exactly (``Fraction``), and one
    spelling per value lets ``record_network`` see that "1.50" and "1.5" are the same.
    """
    if not isinstance(difficulty, str):
        raise ValueError(f"difficulty must be a decimal string, not {type(difficulty).__name__}")
    try:
        value = Decimal(difficulty.strip())
    except InvalidOperation as exc:
        raise ValueError(f"difficulty {difficulty!r} is not a decimal number") from exc
    if not value.is_finite() or value <= 0:
        raise ValueError(f"difficulty must be a finite number above 0, not {difficulty!r}")
    if not -_DIFFICULTY_EXP <= value.adjusted() <= _DIFFICULTY_EXP:
        raise ValueError(f"difficulty {difficulty!r} is out of range (1e-40 to 1e40)")
    # Exact: ``format`` never rounds, whereas ``normalize()`` rounds to 28 digits.
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def validate_network(difficulty: str, height: int, fees_per_block_sat: int, source: str) -> str:
    """Check a network entry; the normalised difficulty, else a ``ValueError`` naming the field."""
    normal = normalise_difficulty(difficulty)
    if isinstance(height, bool) or not isinstance(height, int) or height < 0:
        raise ValueError(f"height must be a whole number >= 0, not {height!r}")
    if (
        isinstance(fees_per_block_sat, bool)
        or not isinstance(fees_per_block_sat, int)
        or fees_per_block_sat < 0
    ):
        raise ValueError(
            f"fees_per_block_sat must be a whole number >= 0, not {fees_per_block_sat!r}"
        )
    if source not in NETWORK_SOURCES:
        raise ValueError(f"source must be one of {NETWORK_SOURCES}, not {source!r}")
    return normal
