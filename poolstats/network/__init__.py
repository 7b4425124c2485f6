"""The Bitcoin network: the difficulty, height and fees per block earnings are computed with,
and the client every part that asks a Bitcoin Core node uses.

This package holds the client and the poller; the other parts of the concern stay in their
layer. Where each part lives:

- Client (here): ``network.bitcoind`` (JSON-RPC with the password scrubbed from every
  message), used by the poller and by stratum's block templates and ``submitblock``
  (``stratum/template.py``).
- Poller (here): ``network.poller`` (``NetworkPoller``: records a network state whenever
  what a share earns changes). Run beside a node by ``poolstats serve`` (``node.py``) and
  in a cluster by the active ``poolstats jobs`` (``cluster/jobs.py``), when ``bitcoind_url``
  is set.
- Rules (pure): ``domain/network_entry.py`` (a state's validation, the difficulty's
  normal form) and ``domain/earnings.py`` (``NetworkState``, the subsidy at a height).
- Engine: ``engine/work.py``'s ``Timeline``, the states in force over time, which the
  node's engine gets from the store (``Service.refresh_network``).
- Persistence: ``network_history`` (``store/sql.py``: ``record_network``, ``network_at``;
  ``store/ledger.py``: ``timeline``, ``network_version``).
- CLI: ``poolstats network set`` and ``show`` (``cli/earnings.py``).
"""
