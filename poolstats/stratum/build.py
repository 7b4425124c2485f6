"""A stratum server from the settings: its limits, its job source, and (inside a node) its
share sink into the node's ingest pipeline.

Settings are checked here, once, with errors naming the setting, so that ``serve`` and
``stratum`` refuse to start rather than run a pool on a mistyped difficulty.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING

import httpx

from poolstats.config import Settings, env_name
from poolstats.ingest.pipeline import Format
from poolstats.stratum.jobs import JobSource, StaticTemplate
from poolstats.stratum.server import ShareSink, StratumConfig, StratumServer
from poolstats.stratum.session import Limits
from poolstats.stratum.template import Record, coinbase_tag, payout_script, rpc_template

if TYPE_CHECKING:
    from poolstats.service import Service

MAX_JOB_REFRESH_S = 60.0  # some miners stop hashing after 120 s without a job
STATIC_HEIGHT = 900_000  # the static template's block height (BIP 34 in its coinbase)
OP_TRUE = b"\x51"  # the static template's payout script when no address is set


def _bad(name: str, why: str) -> ValueError:
    return ValueError(f"{name} ({env_name(name)}): {why}")


def stratum_config(settings: Settings) -> StratumConfig:
    low, high = settings.stratum_min_diff, settings.stratum_max_diff
    if not 0 < low <= high:
        raise _bad("stratum_min_diff", f"must be > 0 and <= stratum_max_diff ({high:g})")
    start = settings.stratum_start_diff or low
    if not low <= start <= high:
        raise _bad("stratum_start_diff", f"must lie within [{low:g}, {high:g}] (0: the minimum)")
    if settings.stratum_share_interval_s < 0:
        raise _bad("stratum_share_interval_s", "must be >= 0 (0: fixed difficulty)")
    if not 0 < settings.stratum_job_refresh_s <= MAX_JOB_REFRESH_S:
        raise _bad("stratum_job_refresh_s", f"must be > 0 and <= {MAX_JOB_REFRESH_S:g} s")
    for name in ("stratum_idle_s", "stratum_ban_s"):
        if getattr(settings, name) <= 0:
            raise _bad(name, "must be > 0")
    limits = Limits(
        Fraction(low), Fraction(high), Fraction(start), settings.stratum_share_interval_s
    )
    return StratumConfig(
        limits=limits,
        idle_s=settings.stratum_idle_s,
        job_refresh_s=settings.stratum_job_refresh_s,
        ban_s=settings.stratum_ban_s,
    )


def job_source(settings: Settings, record: Record | None = None) -> JobSource:
    """The source ``stratum_jobs`` names; ``record`` keeps the blocks an ``rpc`` source
    finds (the node's store; a separate stratum process only logs them)."""
    if settings.stratum_jobs == "static":
        script = payout_script(settings) if settings.stratum_payout_address else OP_TRUE
        return StaticTemplate(STATIC_HEIGHT, script, coinbase_tag(settings))
    if settings.stratum_jobs == "rpc":
        return rpc_template(settings, httpx.AsyncClient(), record)
    raise _bad("stratum_jobs", f"'static' or 'rpc', not {settings.stratum_jobs!r}")


async def run_node_stratum(
    settings: Settings, service: Service, source: JobSource, config: StratumConfig
) -> None:
    """The stratum server of a node: shares go straight into the node's journaled ingest."""
    sink = ShareSink(lambda body: service.ingestor.ingest(body, Format.NDJSON), config)
    server = StratumServer(
        source, service.registry.puid_of, sink, config, service.clock.now,
        metrics=service.metrics,
    )  # fmt: skip
    await server.run(settings.stratum_host, settings.stratum_port)
