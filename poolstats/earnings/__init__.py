"""Earnings: what each sub-account earned (FPPS/PPS), settled once a day, paid out in batches.

This package holds the earnings *jobs*; the other parts of the concern stay in their layer,
so that the rules remain pure and the store remains the only place that knows SQL. Where
each part lives:

- Rules (pure, no I/O): ``domain/earnings.py`` (a share's reward at a network state, the
  pool fee, the subsidy schedule, rounding a day to satoshis, BTC text), and
  ``domain/payout_address.py`` (which addresses a payout may go to).
- Engine: ``engine/work.py`` counts each sub-account's work per network state as shares
  arrive (``Timeline``: the states in force over time; capped shares), drained with every
  flush.
- Persistence: ``store/ledger.py`` (settling a day, balances, the earnings pages, payout
  batches), ``store/flush_sql.py`` (the work rows written with each flush), the tables in
  ``store/schema.py``.
- Jobs (here): ``earnings.settlement`` (``Settler``: settle yesterday once due; run by a
  node's timers, ``Service.run_timers``, and in a cluster by the active ``poolstats jobs``,
  ``cluster/jobs.py``) and ``earnings.payouts`` (a batch as CSV and ``sendmany`` files).
- API: ``api/btccom/account.py`` (``earn-stats``, ``earn-history``), the dashboard's
  earnings cards (``web/dashboard.py``), and the CLI ``poolstats settle`` and ``poolstats
  payouts`` (``cli/earnings.py``). Metrics: ``poolstats_settled_through_seconds`` and
  ``poolstats_earnings_settled_sat`` (``metrics.py``).
- The network states earnings are computed with: the ``network`` package.
"""
