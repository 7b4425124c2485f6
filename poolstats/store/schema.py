"""The SQL schema as SQLAlchemy Core tables: the one place the store's columns are declared.

Migrations are written out by hand (``migrations/versions``) so that history never changes when
this file does; ``tests/store`` checks that the migrated database and this metadata agree.

Units: every ``accept_*``/``reject_*``/``stale_*`` column is a sum of share difficulty (REAL),
every ``*_time``/``*_at``/``start`` column is unix seconds (UTC), ``period_s`` is seconds.
"""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa

from poolstats.domain.accounts import MIN_PAYOUT_DEFAULT_SAT, PROFILE_FIELDS
from poolstats.engine.snapshot import Level, WindowSums

# INTEGER in SQLite (64-bit, and a rowid alias when it is the primary key), BIGINT elsewhere:
# worker ids are signed 64-bit hashes, so a 32-bit INTEGER on another backend would overflow.
BigInt = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# 8-byte floats on both: SQLite's REAL is one, PostgreSQL's is 4 bytes (migration 0009).
Real: sa.types.TypeEngine[float] = sa.REAL().with_variant(sa.DOUBLE_PRECISION(), "postgresql")

# Derived from the engine's contract so the store cannot silently drop a window.
WINDOW_COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(WindowSums))

# Group ids with a meaning of their own (BTC.COM's convention); real groups start at 1.
GROUP_DEFAULT = -1
GROUP_DELETED = 0

# Named constraints let future batch (copy-and-move) migrations on SQLite refer to them.
metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _now_col(name: str) -> sa.Column[int]:
    return sa.Column(name, BigInt, nullable=False)


def _window_cols() -> list[sa.Column[float]]:
    return [sa.Column(n, Real, nullable=False, server_default="0") for n in WINDOW_COLUMNS]


# --- accounts -------------------------------------------------------------------------------

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", BigInt, primary_key=True, autoincrement=True),
    sa.Column("name", sa.Text, nullable=False, unique=True),
    _now_col("created_at"),
    sqlite_autoincrement=True,  # ids are never reused after a delete
)

subaccounts = sa.Table(
    "subaccounts",
    metadata,
    # puid is what miners' shares and every stats table are keyed by: never reuse one.
    sa.Column("puid", BigInt, primary_key=True, autoincrement=True),
    sa.Column("account_id", BigInt, sa.ForeignKey("accounts.id"), nullable=False, index=True),
    sa.Column("name", sa.Text, nullable=False, unique=True),
    _now_col("created_at"),
    # The profile (BTC.COM /v1/account/info): free text, '' when unset; updated_at 0 = never.
    *(sa.Column(n, sa.Text, nullable=False, server_default="") for n in PROFILE_FIELDS),
    sa.Column("updated_at", BigInt, nullable=False, server_default="0"),
    # Payout settings (migration 0004); fee_rate NULL: the pool's fee (Settings.pool_fee_rate).
    sa.Column("payment_mode", sa.Text, nullable=False, server_default="PPS"),
    sa.Column("fee_rate", sa.Text, nullable=True),
    sa.Column("min_payout_sat", BigInt, nullable=False, server_default=str(MIN_PAYOUT_DEFAULT_SAT)),
    sqlite_autoincrement=True,
)

access_keys = sa.Table(
    "access_keys",
    metadata,
    sa.Column("id", BigInt, primary_key=True, autoincrement=True),
    sa.Column("account_id", BigInt, sa.ForeignKey("accounts.id"), nullable=False, index=True),
    sa.Column("key_hash", sa.Text, nullable=False, unique=True),  # SHA-256 hex, never the key
    sa.Column("read_only", sa.Boolean, nullable=False, server_default=sa.false()),
    _now_col("created_at"),
    sa.Column("revoked_at", BigInt, nullable=True),
    sqlite_autoincrement=True,
)

# Watcher links (migration 0013): each opens one sub-account for reading. Like access keys,
# only the token's SHA-256 is kept; ``token_prefix`` (domain.watchers.token_prefix) is what
# the owner's list shows of it. Deleting the row revokes the link.
watchers = sa.Table(
    "watchers",
    metadata,
    sa.Column("id", BigInt, primary_key=True, autoincrement=True),
    sa.Column("puid", BigInt, sa.ForeignKey("subaccounts.puid"), nullable=False, index=True),
    sa.Column("token_hash", sa.Text, nullable=False, unique=True),  # SHA-256 hex, never the token
    sa.Column("token_prefix", sa.Text, nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    _now_col("created_at"),
    _now_col("updated_at"),
    sqlite_autoincrement=True,  # an id once deleted never names another link
)

# --- realtime snapshots (absolute values, overwritten each flush) ---------------------------


# A worker's open history buckets (worker history periods -> column prefix): the sums so far
# of the bucket starting at ``<prefix>_start``, written with the realtime row every flush, so
# the bucket needs no history row of its own until it closes (``engine.snapshot.OpenBuckets``).
OPEN_BUCKET_PREFIX: dict[int, str] = {3600: "hour", 86400: "day"}
OPEN_BUCKET_COLUMNS: dict[int, tuple[str, str, str, str]] = {
    period: (f"{p}_start", f"{p}_accept", f"{p}_stale", f"{p}_reject")
    for period, p in OPEN_BUCKET_PREFIX.items()
}


def _open_bucket_cols() -> list[sa.Column[float]]:
    return [
        sa.Column(c, BigInt if c.endswith("_start") else Real, nullable=False, server_default="0")
        for cols in OPEN_BUCKET_COLUMNS.values()
        for c in cols
    ]


# WITHOUT ROWID: rows are stored in (puid, worker_id) order, so the workers of one sub-account
# are adjacent. Lists that must read all of them (another sort key, a name filter, group sums)
# read contiguous pages: measured with 100k of 1M workers in one puid, 16 ms instead of 95 ms
# with rowids scattered by the order workers first appeared. The flush costs the same (1.6 s
# for 100k changed workers of 1M). Every index costs every flush, since SQLite rewrites an
# index entry whenever the upsert sets one of its columns, changed or not (one on worker_name
# added 0.13 s per 100k workers): hence none at all since migration 0012, which dropped the
# two on columns that change every flush (accept_15m for the default order, last_accept_time
# for status counts): each update rewrote both entries, ~1 µs a worker each. Sorted pages and
# status counts come from a list of a sub-account's workers read and sorted once per flush
# instead (``SqliteStore.worker_page``, ``worker_counts``); PostgreSQL reads the sub-account's
# rows by the primary key (``puid`` first), its ``fillfactor`` 50 keeping updates HOT (0009).
# On PostgreSQL the text columns come after all the others (0015: no alignment padding after
# them); the order here is the order the revisions added the columns in.
workers = sa.Table(
    "workers",
    metadata,
    sa.Column("puid", BigInt, nullable=False),
    sa.Column("worker_id", BigInt, nullable=False),
    sa.Column("worker_name", sa.Text, nullable=False),
    sa.Column("group_id", BigInt, nullable=False, server_default=str(GROUP_DEFAULT)),
    *_window_cols(),
    sa.Column("accept_count", BigInt, nullable=False, server_default="0"),
    sa.Column("reject_count", BigInt, nullable=False, server_default="0"),
    sa.Column("last_share_time", BigInt, nullable=False, server_default="0"),
    sa.Column("last_accept_time", BigInt, nullable=False, server_default="0"),
    sa.Column("last_share_ip", sa.Text, nullable=False, server_default=""),
    _now_col("created_at"),
    _now_col("updated_at"),
    sa.PrimaryKeyConstraint("puid", "worker_id"),
    # migration 0012: the open history buckets, after every older column
    *_open_bucket_cols(),
    # migration 0014: facts of the worker (``WorkerRows.first_share_time``, ``miner_agent``):
    # unix seconds of its first share (0: unknown), kept at the earliest any flush gave, and
    # the user agent of its mining software ("": none seen), replaced by a non-empty one only
    sa.Column("first_share_time", BigInt, nullable=False, server_default="0"),
    sa.Column("miner_agent", sa.Text, nullable=False, server_default=""),
    sqlite_with_rowid=False,
)

# Not deleted, with the 0 as SQL text rather than a bound parameter (partial indexes of older
# schemas needed that).
NOT_DELETED = workers.c.group_id != sa.literal_column(str(GROUP_DELETED))

worker_groups = sa.Table(
    "worker_groups",
    metadata,
    sa.Column("gid", BigInt, primary_key=True, autoincrement=True),
    sa.Column("puid", BigInt, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("sort_id", BigInt, nullable=False, server_default="0"),
    _now_col("created_at"),
    _now_col("updated_at"),
    sa.UniqueConstraint("puid", "name"),
    sqlite_autoincrement=True,  # gid 1.. never collides with -1 (default) or 0 (deleted)
)

# No foreign key to subaccounts: the engine may see a puid before its account reaches this
# database (scale-out, demo, simulator), and a flush must never fail for that.
subaccount_stats = sa.Table(
    "subaccount_stats",
    metadata,
    sa.Column("puid", BigInt, primary_key=True, autoincrement=False),
    *_window_cols(),
    sa.Column("workers_active", BigInt, nullable=False, server_default="0"),
    sa.Column("last_share_time", BigInt, nullable=False, server_default="0"),
    _now_col("updated_at"),
)

pool_stats = sa.Table(
    "pool_stats",
    metadata,
    sa.Column("id", BigInt, primary_key=True, autoincrement=False),
    *_window_cols(),
    sa.Column("workers_active", BigInt, nullable=False, server_default="0"),
    sa.Column("users_active", BigInt, nullable=False, server_default="0"),
    _now_col("updated_at"),
)

# --- history (increments added per flush) ---------------------------------------------------


def _history_cols() -> list[sa.Column[float]]:
    return [
        sa.Column("accept", Real, nullable=False, server_default="0"),
        sa.Column("stale", Real, nullable=False, server_default="0"),
        sa.Column("reject", Real, nullable=False, server_default="0"),
    ]


# Keyed by (period_s, start, ...) on purpose. Every flush adds to the newest bucket of every
# active worker; with the bucket first in the key those rows are adjacent, so a 100k-worker flush
# dirties ~1k pages. Keyed by worker first, the same flush dirtied a page per worker: measured
# with 3 days of hourly history for 100k workers, 2.9 s and a 411 MB WAL per flush instead of
# 0.47 s and 12 MB. Prune becomes a range delete on the key prefix. Per-worker reads use point
# lookups, one per bucket start (see ``SqliteStore.history``), so no secondary index is needed.
# WITHOUT ROWID: small rows stored once, in key order.
history_worker = sa.Table(
    "history_worker",
    metadata,
    sa.Column("puid", BigInt, nullable=False),
    sa.Column("worker_id", BigInt, nullable=False),
    sa.Column("period_s", BigInt, nullable=False),
    sa.Column("start", BigInt, nullable=False),
    *_history_cols(),
    sa.PrimaryKeyConstraint("period_s", "start", "puid", "worker_id"),
    sqlite_with_rowid=False,
)

history_subaccount = sa.Table(
    "history_subaccount",
    metadata,
    sa.Column("puid", BigInt, nullable=False),
    sa.Column("period_s", BigInt, nullable=False),
    sa.Column("start", BigInt, nullable=False),
    *_history_cols(),
    sa.PrimaryKeyConstraint("period_s", "start", "puid"),
    sqlite_with_rowid=False,
)

history_pool = sa.Table(
    "history_pool",
    metadata,
    sa.Column("period_s", BigInt, nullable=False),
    sa.Column("start", BigInt, nullable=False),
    *_history_cols(),
    sa.PrimaryKeyConstraint("period_s", "start"),
    sqlite_with_rowid=False,
)

HISTORY_TABLES: dict[Level, sa.Table] = {
    Level.WORKER: history_worker,
    Level.SUBACCOUNT: history_subaccount,
    Level.POOL: history_pool,
}

# Key columns of each history level after (period_s, start), in primary-key order.
HISTORY_KEYS: dict[Level, tuple[str, ...]] = {
    Level.WORKER: ("puid", "worker_id"),
    Level.SUBACCOUNT: ("puid",),
    Level.POOL: (),
}

# --- network (difficulty and block reward over time, for earnings) -------------------------

# One row per change: the values in force from ``at`` until the next row's ``at``. Difficulty is
# the exact decimal text (settlement does Fraction arithmetic on it; a REAL would round it).
network_history = sa.Table(
    "network_history",
    metadata,
    sa.Column("at", BigInt, primary_key=True, autoincrement=False),
    sa.Column("difficulty", sa.Text, nullable=False),
    sa.Column("height", BigInt, nullable=False),
    sa.Column("fees_per_block_sat", BigInt, nullable=False, server_default="0"),
    sa.Column("source", sa.Text, nullable=False),  # base.NETWORK_SOURCES
    _now_col("recorded_at"),
)

# --- earnings ledger (migration 0005) --------------------------------------------------------

# Exact work not yet settled, per sub-account, booking day and network state. The sum of the
# accepted share difficulty below the network's, in units of 2**-20 (share.DIFF_QUANTUM), is
# ``diff_hi * 2**40 + diff_lo``: split so the flush can add to it in SQL with integers that
# never overflow (a single INTEGER would turn into a REAL past 2**63). ``capped`` counts the
# shares at or above the network difficulty (each earns exactly one block reward). ``net_at`` is
# the ``network_history.at`` in force at the shares' time when they were booked (-1: none was
# known). ``day`` is the UTC day the work is settled with: the shares' own day, or the first
# unsettled day for shares that arrive after theirs was settled.
work = sa.Table(
    "work",
    metadata,
    sa.Column("day", BigInt, primary_key=True, autoincrement=False),
    # no foreign key, like the other tables a flush writes: a flush must never be refused
    sa.Column("puid", BigInt, primary_key=True, autoincrement=False),
    sa.Column("net_at", BigInt, primary_key=True, autoincrement=False),
    sa.Column("diff_hi", BigInt, nullable=False),
    sa.Column("diff_lo", BigInt, nullable=False),  # 0 <= diff_lo < 2**40
    sa.Column("capped", BigInt, nullable=False),
    sqlite_with_rowid=False,
)

# Each payout batch: pending until confirmed with its transaction id, or cancelled (its
# earnings become unpaid again).
payout_batches = sa.Table(
    "payout_batches",
    metadata,
    sa.Column("id", BigInt, primary_key=True, autoincrement=True),
    _now_col("created_at"),
    sa.Column("status", sa.Text, nullable=False),  # ledger.BatchStatus
    sa.Column("txid", sa.Text, nullable=True),
    sa.Column("closed_at", BigInt, nullable=True),  # confirmed or cancelled
    sqlite_autoincrement=True,
)

payouts = sa.Table(
    "payouts",
    metadata,
    sa.Column("batch_id", BigInt, sa.ForeignKey("payout_batches.id"), primary_key=True),
    sa.Column("puid", BigInt, sa.ForeignKey("subaccounts.puid"), primary_key=True),
    sa.Column("address", sa.Text, nullable=False),
    sa.Column("amount_sat", BigInt, nullable=False),
    sqlite_with_rowid=False,
)

# One row per sub-account and settled UTC day; ``batch_id`` is the payout that pays it (NULL:
# unpaid), so every satoshi is in exactly one of unpaid, pending and paid.
earnings = sa.Table(
    "earnings",
    metadata,
    sa.Column("puid", BigInt, sa.ForeignKey("subaccounts.puid"), primary_key=True),
    sa.Column("day", BigInt, primary_key=True, autoincrement=False),
    sa.Column("amount_sat", BigInt, nullable=False),
    sa.Column("payment_mode", sa.Text, nullable=False),
    sa.Column("fee_rate", sa.Text, nullable=False),
    sa.Column("difficulty", sa.Text, nullable=False),  # network difficulty at the day's end
    sa.Column("accepted_diff", Real, nullable=False),  # the day's accepted share difficulty
    sa.Column("batch_id", BigInt, sa.ForeignKey("payout_batches.id"), nullable=True),
    _now_col("settled_at"),
    sqlite_with_rowid=False,
)

# --- alerts (migration 0006) -----------------------------------------------------------------

# One row per sub-account that ever changed its alert settings; without a row it shows
# BTC.COM's "no alert" object. ``hashrate_value`` is the decimal text in ``hashrate_unit``
# (domain.alerts.parse_threshold), ``miners_value`` a count of ACTIVE workers.
alert_settings = sa.Table(
    "alert_settings",
    metadata,
    sa.Column("puid", BigInt, sa.ForeignKey("subaccounts.puid"), primary_key=True),
    sa.Column("interval_h", BigInt, nullable=False),
    sa.Column("hashrate_value", sa.Text, nullable=False),
    sa.Column("hashrate_unit", sa.Text, nullable=False),
    sa.Column("hashrate_enabled", sa.Boolean, nullable=False),
    sa.Column("miners_value", BigInt, nullable=False),
    sa.Column("miners_enabled", sa.Boolean, nullable=False),
    _now_col("updated_at"),
)

# Who is told: an email address and/or a webhook URL (NULL: none), at most a few per puid.
alert_contacts = sa.Table(
    "alert_contacts",
    metadata,
    sa.Column("id", BigInt, primary_key=True, autoincrement=True),
    sa.Column("puid", BigInt, sa.ForeignKey("subaccounts.puid"), nullable=False, index=True),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("email", sa.Text, nullable=True),
    sa.Column("webhook_url", sa.Text, nullable=True),
    _now_col("created_at"),
    _now_col("updated_at"),
    sqlite_autoincrement=True,  # an id once deleted never names another contact
)

# Every notice and every failed delivery, newest read first by (puid, id). ``value`` and
# ``threshold`` are the texts shown (BTC.COM's ``actual``/``expect``), ``unit`` '' for miners.
alert_log = sa.Table(
    "alert_log",
    metadata,
    sa.Column("id", BigInt, primary_key=True, autoincrement=True),
    sa.Column("puid", BigInt, sa.ForeignKey("subaccounts.puid"), nullable=False),
    _now_col("created_at"),
    sa.Column("kind", sa.Text, nullable=False),  # domain.alerts.AlertKind
    sa.Column("event", sa.Text, nullable=False),  # domain.alerts.Event
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("threshold", sa.Text, nullable=False),
    sa.Column("unit", sa.Text, nullable=False),
    sa.Column("interval_h", BigInt, nullable=False),
    sa.Column("is_read", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("ix_alert_log_puid_id", "puid", "id"),
    sqlite_autoincrement=True,
)

# The evaluator's memory per (puid, kind): domain.alerts.AlertState; no row = idle.
alert_state = sa.Table(
    "alert_state",
    metadata,
    sa.Column("puid", BigInt, sa.ForeignKey("subaccounts.puid"), primary_key=True),
    sa.Column("kind", sa.Text, primary_key=True),
    sa.Column("breaches", BigInt, nullable=False),
    sa.Column("clears", BigInt, nullable=False),
    sa.Column("firing", sa.Boolean, nullable=False),
    sa.Column("last_notified_at", BigInt, nullable=False),
    _now_col("updated_at"),
    sqlite_with_rowid=False,
)

# --- blocks (migration 0007) -----------------------------------------------------------------

# Every block the pool found: recorded ``submitted`` when it is sent to the node, then with the
# node's verdict (domain.found_block.BlockStatus). ``hash`` as explorers show it; ``puid`` and
# ``worker`` name the finder (no foreign key: a found block is never refused for a missing
# sub-account); ``reward_sat`` is what the coinbase pays, subsidy and fees.
blocks = sa.Table(
    "blocks",
    metadata,
    sa.Column("id", BigInt, primary_key=True, autoincrement=True),
    sa.Column("height", BigInt, nullable=False),
    sa.Column("hash", sa.Text, nullable=False, unique=True),
    sa.Column("puid", BigInt, nullable=False),
    sa.Column("worker", sa.Text, nullable=False),
    sa.Column("reward_sat", BigInt, nullable=False),
    _now_col("found_at"),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    _now_col("updated_at"),
    sa.Index("ix_blocks_found_at", "found_at"),
    sqlite_autoincrement=True,
)

# --- bookkeeping ----------------------------------------------------------------------------

meta = sa.Table(
    "meta",
    metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sqlite_with_rowid=False,
)

HISTORY_SEQ_KEY = "history_seq"  # a single node's; an aggregator's: partition_seq_key(K)
DATA_ID_KEY = "data_id"  # random, made by migration 0008: which data folder this database is
SETTLED_THROUGH_KEY = "settled_through"  # start of the newest settled UTC day


def partition_seq_key(partition: int) -> str:
    """The meta key of the newest bus sequence whose history partition K's aggregator stored."""
    return f"{HISTORY_SEQ_KEY}/{partition}"


def pool_row_id(partition: int | None) -> int:
    """``pool_stats`` holds one row per writer: 1 for a single node (and partition 0), K + 1
    for partition K's aggregator; pool figures are their sum (``SqlStore.pool_stats``)."""
    return 1 if partition is None else partition + 1


# --- cluster --------------------------------------------------------------------------------

# Who does a job that exactly one process may do at a time (an aggregator of partition K, the
# jobs process). ``epoch`` grows with every change of holder: a write that must come from the
# holder checks (holder, epoch) in its own transaction (``store.leases.check``), so a process
# that lost its lease without knowing it (paused, cut off) can never write after the next one.
leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("holder", sa.Text, nullable=False),
    sa.Column("epoch", BigInt, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),  # unix seconds
    sa.Column("acquired_at", sa.Float, nullable=False),
    sqlite_with_rowid=False,
)
