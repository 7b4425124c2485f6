"""Every setting, declared once: name, default, unit and help.

The CLI builds its options from these declarations, the environment overrides them as
``POOLSTATS_<NAME>``, and docs/settings.md lists them (a test fails if one is missing there).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field, fields, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from poolstats.domain.earnings import parse_fee_rate
from poolstats.domain.stratum_regions import StratumRegion, parse_stratum_regions


def setting(default: Any, help: str, unit: str = "") -> Any:
    return field(default=default, metadata={"help": help, "unit": unit})


def default_data_dir() -> Path:
    """``$POOLSTATS_DATA_DIR``, else ``$XDG_DATA_HOME/poolstats`` (~/.local/share/poolstats)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "poolstats"


@dataclass(frozen=True)
class Settings:
    data_dir: Path = setting(
        default_data_dir(), "Folder of the SQLite database, the journal and the checkpoint."
    )
    store_url: str = setting(
        "",
        "Database of the store: empty for the SQLite file in data_dir, or a PostgreSQL URL "
        "(postgresql://user@host:5432/db). With PostgreSQL, data_dir still holds the journal "
        "and the engine checkpoint.",
    )
    host: str = setting("127.0.0.1", "Address the HTTP server binds to.")
    port: int = setting(8080, "HTTP port.")
    http_header_timeout_s: float = setting(
        10.0,
        "An HTTP connection must send a request's line and headers within this time of "
        "opening, or of its previous answer; else it is closed.",
        "s",
    )
    http_body_timeout_s: float = setting(
        30.0,
        "An HTTP request's body must arrive whole within this time of its headers; else the "
        "connection is closed. Until then the connection makes room for new ones like an "
        "idle one (http_max_connections).",
        "s",
    )
    http_keep_alive_s: float = setting(
        5.0, "An idle keep-alive HTTP connection (no byte of a next request) is closed.", "s"
    )
    http_max_connections_per_address: int = setting(
        64,
        "Open HTTP connections one client may hold (an IPv4 address, an IPv6 /64); a new one "
        "beyond it closes that client's longest-waiting one. Not applied to "
        "forwarded_allow_ips (0: no cap).",
    )
    http_max_connections: int = setting(
        0,
        "Open HTTP connections in all; a new one beyond it closes the longest-waiting one "
        "(0: the process's file limit, RLIMIT_NOFILE, less a quarter kept for the store, the "
        "journal and the stratum server).",
    )
    forwarded_allow_ips: str = setting(
        "127.0.0.1,::1",
        "Reverse proxies trusted to give the client's address in X-Forwarded-For "
        "(comma-separated addresses or networks, * for any); the throttle counts that "
        "address.",
    )
    auth_failure_limit: int = setting(
        20,
        "Wrong access keys or ingest tokens one client may send within auth_failure_window_s; "
        "then its keyed requests get HTTP 429 until the window passes (0: no limit).",
    )
    auth_failure_window_s: float = setting(
        60.0, "The window auth_failure_limit counts failures in.", "s"
    )
    ingest_token: str = setting(
        "", "Bearer token that POST /ingest/shares requires (empty: ingest is refused)."
    )
    flush_interval_s: float = setting(
        10.0, "How often changed workers and history are written to the store.", "s"
    )
    checkpoint_interval_s: float = setting(
        60.0, "How often the engine state is saved so that a restart replays little.", "s"
    )
    active_s: int = setting(900, "A worker is ACTIVE while its last accepted share is newer.", "s")
    inactive_s: int = setting(
        86400, "A worker is INACTIVE (not yet DEAD) while its last accepted share is newer.", "s"
    )
    future_s: float = setting(
        300.0, "Shares time-stamped further than this in the future are refused.", "s"
    )
    max_body_bytes: int = setting(
        64 * 2**20, "Largest ingest request body; larger ones get HTTP 413.", "bytes"
    )
    journal_segment_bytes: int = setting(
        256 * 2**20,
        "Size at which the journal starts a new file; files a checkpoint covers are deleted.",
        "bytes",
    )
    retention_5m_s: int = setting(30 * 86400, "How long 5-minute history buckets are kept.", "s")
    retention_15m_s: int = setting(30 * 86400, "How long 15-minute history buckets are kept.", "s")
    retention_1h_s: int = setting(90 * 86400, "How long hourly history buckets are kept.", "s")
    retention_1d_s: int = setting(0, "How long daily history buckets are kept (0: forever).", "s")
    node_name: str = setting(
        "", "Name this node reports in /public/v1/pool/stats/merge (empty: the host name)."
    )
    metrics_top_subaccounts: int = setting(
        10,
        "Sub-accounts whose hashrate /metrics shows, the busiest by 15m hashrate (0: none). "
        "Kept small: every sub-account shown is 5 more time series in Prometheus.",
    )
    peers: str = setting(
        "",
        "Comma-separated base URLs of other poolstats nodes whose pool stats "
        "/public/v1/pool/stats/merge adds.",
    )
    peer_timeout_s: float = setting(
        2.0, "How long /public/v1/pool/stats/merge waits for each peer's answer.", "s"
    )
    api_threads: int = setting(
        2, "Threads answering API reads at once (more only contend for Python's GIL)."
    )
    key_cache_s: float = setting(
        2.0,
        "How long what an access key opens is remembered; a revoked key or a new "
        "sub-account takes effect within this time (0: look it up on every request).",
        "s",
    )
    bitcoind_url: str = setting(
        "",
        "JSON-RPC URL of a Bitcoin Core node (e.g. http://127.0.0.1:8332) whose difficulty, "
        "height and fees are recorded in the network history (empty: no poller).",
    )
    bitcoind_user: str = setting("", "User name for the node's JSON-RPC (basic auth).")
    bitcoind_password: str = setting(
        "", "Password for the node's JSON-RPC (basic auth); never logged or shown."
    )
    network_poll_s: float = setting(60.0, "How often the node is asked for the network state.", "s")
    fee_window_blocks: int = setting(
        144, "Blocks whose total fees are averaged into fees per block (FPPS).", "blocks"
    )
    fee_update_s: int = setting(
        3600,
        "Least time between two network entries that differ only in fees per block (a "
        "difficulty change or a halving is recorded at once).",
        "s",
    )
    pool_fee_rate: str = setting(
        "0.02",
        "The pool's fee as a decimal fraction of the reward (0.02: 2%), for sub-accounts "
        "without their own; at most 6 decimal places, from 0 to below 1.",
    )
    settle_after_s: int = setting(
        300,
        "How long after UTC midnight the server settles the day before (shares of a day "
        "that arrive after it is settled are booked into the next unsettled day).",
        "s",
    )
    alert_check_s: float = setting(
        60.0, "How often the alert evaluator compares hashrate and workers with thresholds.", "s"
    )
    alert_retries: int = setting(
        3, "How many times a failed alert delivery (email or webhook) is tried again."
    )
    alert_backoff_s: float = setting(
        2.0, "Wait before the first retry of a failed alert delivery; doubled each retry.", "s"
    )
    smtp_host: str = setting(
        "", "SMTP server that sends alert emails (empty: emails are not sent, and logged failed)."
    )
    smtp_port: int = setting(587, "Port of the SMTP server.")
    smtp_starttls: bool = setting(
        True, "Upgrade the SMTP connection with STARTTLS (verified certificate) before sending."
    )
    smtp_user: str = setting("", "SMTP login user (empty: no login).")
    smtp_password: str = setting("", "SMTP login password; never logged or shown.")
    smtp_from: str = setting("poolstats@localhost", "Sender address of alert emails.")
    smtp_timeout_s: float = setting(10.0, "How long one SMTP conversation step may take.", "s")
    webhook_timeout_s: float = setting(
        10.0, "How long an alert webhook may take to answer before the attempt fails.", "s"
    )
    stratum_port: int = setting(
        0, "Port of the Stratum V1 front end that miners connect to (0: no stratum server)."
    )
    stratum_host: str = setting(
        "127.0.0.1", "Address the stratum server binds to (0.0.0.0 to take miners from outside)."
    )
    explorer_tx_url: str = setting(
        "",
        "Link of a payout's transaction on the dashboard's earnings page, {txid} standing for "
        "its id (https://mempool.space/tx/{txid}); empty: the id is shown without a link.",
    )
    pool_stratum_urls: str = setting(
        "",
        "Stratum addresses advertised by /v1/pool/node-list and /v1/pool/url-config, as "
        "comma-separated region=host:port items (a region named again gathers its addresses: "
        "cn=cn.example.com:3333,cn=cn.example.com:443,us=us.example.com:3333). Empty: none are "
        "advertised, since a bind address such as 0.0.0.0 is not one a miner can use.",
    )
    stratum_jobs: str = setting(
        "static",
        "Where stratum jobs come from: 'rpc' (the node at bitcoind_url, getblocktemplate) or "
        "'static' (a fixed template, for load tests and demos; blocks are not sent).",
    )
    stratum_min_diff: float = setting(
        1.0, "Lowest share difficulty a stratum connection is given (vardiff, d=, suggestions)."
    )
    stratum_max_diff: float = setting(
        2.0**40, "Highest share difficulty a stratum connection is given."
    )
    stratum_start_diff: float = setting(
        0.0, "Share difficulty of a new stratum connection (0: stratum_min_diff)."
    )
    stratum_share_interval_s: float = setting(
        10.0, "The share rate vardiff aims at, per connection: one share this often.", "s"
    )
    stratum_job_refresh_s: float = setting(
        30.0, "A new stratum job at least this often, even when nothing changed (<= 60).", "s"
    )
    stratum_idle_s: float = setting(
        600.0, "A stratum connection that sends nothing for this long is closed.", "s"
    )
    stratum_ban_s: float = setting(
        600.0, "How long an address that floods bad requests or shares is refused.", "s"
    )
    stratum_payout_address: str = setting(
        "", "Bitcoin address the coinbase of 'rpc' jobs pays (required with stratum_jobs=rpc)."
    )
    stratum_tag: str = setting(
        "/poolstats/", "Text in the coinbase of stratum jobs (after the BIP 34 height)."
    )
    stratum_template_poll_s: float = setting(
        5.0,
        "'rpc' jobs: how long a getblocktemplate long poll may wait (a new template is "
        "fetched at least this often).",
        "s",
    )
    stratum_ingest_url: str = setting(
        "",
        "'poolstats stratum' (a separate process): the node's ingest URL it posts shares to "
        "(e.g. http://127.0.0.1:8080/ingest/shares), with ingest_token; or bus_url instead, "
        "to publish them to a cluster's share bus.",
    )
    stratum_spool_max_bytes: int = setting(
        4 * 2**30,
        "'poolstats stratum': most the spool may hold; past it miners get an error, not an "
        "acknowledgement.",
        "bytes",
    )
    stratum_spool_dir: str = setting(
        "",
        "'poolstats stratum': folder where shares wait while the ingest URL (or the share "
        "bus) cannot be reached (empty: <data_dir>/stratum-spool).",
    )
    stratum_metrics_port: int = setting(
        0, "'poolstats stratum': port of its own Prometheus /metrics (0: none)."
    )
    stratum_metrics_host: str = setting(
        "127.0.0.1", "'poolstats stratum': address its /metrics binds to (0.0.0.0: from outside)."
    )
    bus_url: str = setting(
        "",
        "Where share batches travel between processes: empty for in-process (one node), or "
        "NATS JetStream servers as nats://host:4222[,nats://host2:4222,...] (the cluster).",
    )
    lease_ttl_s: float = setting(
        6.0,
        "How long a cluster lease (an aggregator's partition, the jobs process) lasts without "
        "renewal: a standby takes over at most this long after the holder stops.",
        "s",
    )
    partitions: int = setting(
        1,
        "Partitions of the share bus; a sub-account's partition is a fixed hash of its puid "
        "(docs/cluster.md). Change it only as docs/cluster.md says.",
    )
    bus_replicas: int = setting(
        1, "Copies JetStream keeps of the share stream (3 on a cluster of 3 or more servers)."
    )
    bus_retention_s: int = setting(
        7 * 86400,
        "How long the share stream keeps batches, acknowledged or not: how far back a "
        "restarted aggregator can replay from its checkpoint.",
        "s",
    )
    bus_max_bytes: int = setting(
        0,
        "Most the share stream may hold; past it the oldest batches are dropped (0: no "
        "limit but bus_retention_s and the servers' disks).",
        "bytes",
    )
    bus_dedupe_window_s: float = setting(
        120.0,
        "A batch published again with the same id within this time is stored once (a "
        "producer's retries must fall within it).",
        "s",
    )
    bus_publish_timeout_s: float = setting(
        5.0,
        "How long a publish waits for the bus to acknowledge a batch before it fails "
        "(then the producer spools or answers 503).",
        "s",
    )
    bus_ack_wait_s: float = setting(
        300.0,
        "How long the bus waits for an aggregator to acknowledge batches it was given "
        "before it offers them again (longer than a flush).",
        "s",
    )

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then ``POOLSTATS_*`` variables, then explicit overrides (None ignored)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(env_name(f.name))
            if raw is not None and raw != "":
                values[f.name] = _convert(f.default, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return replace(cls(), **values)

    def retention(self) -> dict[int, int | None]:
        """Bucket period (s) -> retention (s), None for forever."""
        periods = {
            300: self.retention_5m_s,
            900: self.retention_15m_s,
            3600: self.retention_1h_s,
            86400: self.retention_1d_s,
        }
        return {p: (r or None) for p, r in periods.items()}

    def fee_rate(self) -> Fraction:
        """``pool_fee_rate`` as an exact fraction; ``ValueError`` (naming the setting) for a
        value ``parse_fee_rate`` refuses, so a typo stops the caller rather than mispaying."""
        try:
            return parse_fee_rate(self.pool_fee_rate)
        except ValueError as exc:
            raise ValueError(f"pool_fee_rate: {exc}") from None

    def tx_link(self) -> str:
        """``explorer_tx_url``, checked: empty, or an http(s) URL holding ``{txid}``;
        ``ValueError`` naming the setting otherwise (a link that cannot work stops the start)."""
        url = self.explorer_tx_url.strip()
        if url and (not url.startswith(("https://", "http://")) or "{txid}" not in url):
            raise ValueError(
                f"explorer_tx_url: an http(s) URL with {{txid}} in it, got {self.explorer_tx_url!r}"
            )
        return url

    def stratum_regions(self) -> tuple[StratumRegion, ...]:
        """``pool_stratum_urls`` by region; ``ValueError`` naming the setting for an item
        that is not region=host:port."""
        try:
            return parse_stratum_regions(self.pool_stratum_urls)
        except ValueError as exc:
            raise ValueError(f"pool_stratum_urls: {exc}") from None

    def node(self) -> str:
        """The name this node reports (merged pool stats, metrics): ``node_name``, else the
        host name."""
        return self.node_name or socket.gethostname()

    def peer_urls(self) -> tuple[str, ...]:
        """``peers`` as a tuple of base URLs: blanks and empty items dropped, no trailing
        slash, so callers can append a path."""
        urls = (u.strip().rstrip("/") for u in self.peers.split(","))
        return tuple(u for u in urls if u)


def env_name(name: str) -> str:
    return "POOLSTATS_" + name.upper()


def _convert(default: Any, raw: str) -> Any:
    if isinstance(default, Path):
        return Path(raw)
    if isinstance(default, bool):
        return raw.lower() in {"1", "true", "yes", "on"}
    return type(default)(raw)


_BINARY_UNITS = (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10))


def default_text(name: str, default: Any, unit: str) -> str:
    """A default as people write it, for --help, ``poolstats settings`` and the docs:
    "empty" for an empty text (not a bare "."), whole numbers without ".0", sizes in the
    largest binary unit that holds them whole ("64 MiB"), then the unit ("10 s")."""
    if name == "data_dir":  # computed from the environment: show the rule, not this machine's
        return "~/.local/share/poolstats"
    if isinstance(default, bool):
        return "true" if default else "false"
    if isinstance(default, int | float):
        number = int(default) if float(default).is_integer() else default
        if unit == "bytes" and isinstance(number, int):
            for name_, size in _BINARY_UNITS:
                if number and number % size == 0:
                    return f"{number // size} {name_}"
        return f"{number} {unit}".strip()
    text = str(default)
    return text if text else "empty"


def described() -> list[tuple[str, str, Any, str, str]]:
    """(name, environment variable, default, unit, help) of every setting, for docs and CLI."""
    return [
        (f.name, env_name(f.name), f.default, f.metadata["unit"], f.metadata["help"])
        for f in fields(Settings)
    ]
