"""Simulated miners for demos and tests: a pure fleet model and an HTTP sender."""

from poolstats.simulate.fleet import Fleet, Miner, Shares
from poolstats.simulate.sender import BatchResult, IngestAuthError, IngestError, Totals, run

__all__ = [
    "BatchResult",
    "Fleet",
    "IngestAuthError",
    "IngestError",
    "Miner",
    "Shares",
    "Totals",
    "run",
]
