"""Kept only for ``tests/store/test_ledger.py``, which another change owns at the moment: the
payout batch files are ``poolstats.earnings.payouts``. Remove this module once that test
imports from there."""

from poolstats.earnings.payouts import BatchFiles, batch_csv, sendmany_json, write_batch_files

__all__ = ["BatchFiles", "batch_csv", "sendmany_json", "write_batch_files"]
