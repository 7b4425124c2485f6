"""``make bench``: run every benchmark, print the figures and write BENCHMARKS.md.

Each figure is compared with the requirement it answers to; the file records the machine
and the command so that a reader can repeat it.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench import api as api_bench
from bench import cluster as cluster_bench
from bench import dashboard as dashboard_bench
from bench import engine as engine_bench
from bench import flush as flush_bench
from bench import hostile, ingest_http, journal, memory, store_pg
from bench import settle as settle_bench
from bench import stratum as stratum_bench
from poolstats.engine.engine import Engine, ShareBatch
from poolstats.store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parents[1]


def service_flush(n_workers: int = 100_000) -> dict[str, float]:
    """Drain an engine with ``n_workers`` changed workers and write it to a fresh store."""
    engine = Engine()
    t = 1_790_000_000.0
    rows = engine.worker_rows(
        [i // 100 + 1 for i in range(n_workers)], [f"rig{i:06d}" for i in range(n_workers)]
    )
    for step in range(2):
        engine.apply(
            ShareBatch(rows=rows, ts=np.full(n_workers, t + step), diff=np.full(n_workers, 65536.0),
                       status=np.zeros(n_workers, np.uint8), ip=np.full(n_workers, -1)),
            t + step,
        )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp, SqliteStore.open(Path(tmp)) as store:
        store.write_flush(engine.drain(t + 1))  # first flush inserts every row
        engine.apply(
            ShareBatch(rows=rows, ts=np.full(n_workers, t + 12), diff=np.full(n_workers, 65536.0),
                       status=np.zeros(n_workers, np.uint8), ip=np.full(n_workers, -1)),
            t + 12,
        )  # fmt: skip
        started = time.perf_counter()
        flush = engine.drain(t + 12)
        drained = time.perf_counter()
        store.write_flush(flush)
        done = time.perf_counter()
    return {
        "changed_workers": len(flush.workers.puid),
        "drain_s": round(drained - started, 3),
        "write_s": round(done - drained, 3),
        "total_s": round(done - started, 3),
    }


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_kb = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(memory_kb / 2**20, 1),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "os": platform.platform(),
    }


def rewrite() -> None:
    """Render BENCHMARKS.md again from its own raw figures (after a change of wording)."""
    (ROOT / "BENCHMARKS.md").write_text(report(_raw()))


STEPS: list[tuple[str, Callable[[], Any]]] = [
    ("engine", engine_bench.run),
    ("memory", memory.run),
    ("store_flush", flush_bench.run),
    ("service_flush", service_flush),
    ("flush_1m", flush_bench.steady),
    ("pg_flush_1m", store_pg.steady_1m),
    ("journal", journal.run),
    ("ingest_http", ingest_http.run),
    ("api", api_bench.run),
    ("settle", settle_bench.run),
    ("stratum", stratum_bench.run),
    ("hostile", hostile.run),
    ("dashboard", dashboard_bench.run),
    ("cluster", cluster_bench.run),
]


def _raw() -> dict[str, Any]:
    text = (ROOT / "BENCHMARKS.md").read_text()
    raw: dict[str, Any] = json.loads(text.split("```json", 1)[1].split("```", 1)[0])
    raw["date"] = text.split("Measured ", 1)[1].split(" ", 1)[0]
    return raw


def main(only: list[str] | None = None) -> None:
    """Every step; or with ``only``, those steps, the others' figures kept from BENCHMARKS.md
    (each re-run step records its own date)."""
    today = datetime.date.today().isoformat()
    results: dict[str, Any] = {"machine": machine(), "date": today}
    steps = STEPS
    if only:
        unknown = set(only) - {name for name, _ in STEPS}
        if unknown:
            raise SystemExit(f"unknown steps {sorted(unknown)}; steps: {[n for n, _ in STEPS]}")
        results = _raw()
        steps = [(name, run) for name, run in STEPS if name in only]
    for name, run in steps:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        results[name] = run()
        if only:
            results[name]["measured"] = today
        print(json.dumps({name: results[name]}), flush=True)
    (ROOT / "BENCHMARKS.md").write_text(report(results))
    print("wrote BENCHMARKS.md", file=sys.stderr)


def report(r: dict[str, Any]) -> str:
    e, m, http = r["engine"], r["memory"], r["ingest_http"]
    rows = [
        ("Engine aggregation, decoded batches, one core", "≥ 3,000,000 shares/s",
         f"{e['apply_shares_per_s']:,} shares/s (`Engine.apply`, {e['workers']:,} workers, "
         f"{e['batch_shares']:,}-share batches); {e['columns_to_engine_shares_per_s']:,} "
         "shares/s including the look-up of each batch's ~400,000 distinct worker names"
         + _measured(e) + _same_session(e)),
        ("HTTP ingest NDJSON, end to end", "≥ 500,000 shares/s",
         f"{http['ndjson']['shares_per_s']:,} shares/s"),
        ("HTTP ingest columnar, end to end", "≥ 2,000,000 shares/s",
         f"{http['columnar']['shares_per_s']:,} shares/s"),
        ("Realtime state at 1,000,000 workers", "≤ 1 KB per worker",
         f"{m['bytes_per_worker']} B per worker (RSS growth; {m['numpy_bytes_per_worker']} B "
         "of it numpy arrays)"),
        ("Flush of 100,000 changed workers to SQLite", "≤ 2 s",
         f"{r['service_flush']['total_s']} s (drain {r['service_flush']['drain_s']} s + write "
         f"{r['service_flush']['write_s']} s); store alone: insert "
         f"{r['store_flush']['insert_s']} s, update {r['store_flush']['update_s']} s"),
        *([] if "flush_1m" not in r else [_flush_1m_row(r["flush_1m"])]),
        *([] if "pg_flush_1m" not in r else [
            _flush_1m_row(r["pg_flush_1m"], "PostgreSQL", "bench.store_pg.steady_1m")
        ]),
        ("Share → visible in the store", f"≤ one flush interval ({http['flush_interval_s']:g} s)",
         f"{http['share_to_store_s']} s"),
    ]  # fmt: skip
    if "settle" in r:
        st = r["settle"]
        rows.append(
            (f"Settlement of a {st['days']}-day simulated fleet ({st['subaccounts']:,} "
             f"sub-accounts, {st['miners']:,} miners, {st['network_entries']:,} network "
             f"entries, {st['work_rows']:,} work rows)", "≤ 10 s",
             f"{st['settle_all_days_s']} s for all days in one run; "
             f"{st['settle_day_by_day_s']} s day by day (slowest day {st['slowest_day_s']} s)"
             + _measured(st))
        )  # fmt: skip
    if "api" in r:
        a = r["api"]
        where = (
            f"sub-account of {a['queried_subaccount_workers']:,} workers, "
            f"{a['workers']:,} in the store"
        )
        rows += [
            (f"`GET /v1/worker`, a page of 50 by shares_15m; {where}",
             f"p99 ≤ 50 ms at ≥ {a['rate_rps']:g} req/s", _latency(a["worker_list"], a, 50)),
            (f"`GET /v1/worker/stats`; {where}",
             f"p99 ≤ 10 ms at ≥ {a['rate_rps']:g} req/s", _latency(a["worker_stats"], a, 10)),
        ]  # fmt: skip
    if "dashboard" in r:
        rows += _dashboard_rows(r["dashboard"])
    if "stratum" in r:
        rows += _stratum_rows(r["stratum"])
    if "hostile" in r:
        rows.append(_hostile_row(r["hostile"]))
    if "cluster" in r:
        rows += _cluster_rows(r["cluster"])
    mach = r["machine"]
    lines = [
        "# Benchmarks",
        "",
        f"Measured {r['date']} with `make bench` (`python -m bench`) on {mach['cpus']} CPUs "
        f"({mach['cpu']}), {mach['memory_gib']} GiB, Python {mach['python']}, "
        f"numpy {mach['numpy']}, {mach['os']}. The HTTP figures use a real `poolstats serve` "
        "process and a load generator in a second process (2 connections, prebuilt bodies: "
        "100,000-share NDJSON and 500,000-share columnar requests over 100,000 workers of "
        "1,000 sub-accounts); every request is journaled with fsync before its 2xx.",
        *([] if "api" not in r else ["", _api_method(r["api"])]),
        *([] if "stratum" not in r else ["", _stratum_method(r["stratum"])]),
        *([] if "hostile" not in r else ["", _hostile_method(r["hostile"])]),
        *([] if "cluster" not in r else ["", _cluster_method(r["cluster"])]),
        "",
        "| what | requirement | measured |",
        "|---|---|---|",
        *[f"| {a} | {b} | {c} |" for a, b, c in rows],
        "",
        *([] if "cluster" not in r else _cluster_model(r["cluster"], r)),
        "## Raw figures",
        "",
        "```json",
        json.dumps({k: v for k, v in r.items() if k != "date"}, indent=2),
        "```",
        "",
    ]
    return "\n".join(lines)


def _flush_1m_row(
    f: dict[str, Any], store: str = "SQLite", bench: str = "bench.flush.steady"
) -> tuple[str, str, str]:
    m = f["median_update"]
    met = m["total_s"] <= 5
    return (
        f"Flush of {f['n_workers']:,} changed workers to {store}, steady state (every worker "
        f"sent shares since the last flush; `{bench}`)",
        "≤ 5 s",
        ("" if met else "**missed**: ")
        + f"{m['total_s']} s (drain {m['drain_s']} s + write {m['write_s']} s; "
        f"{m['cpu_s']} s of CPU; median of {len(f['updates'])} flushes: "
        + ", ".join(f"{u['total_s']} s" for u in f["updates"])
        + _others_cpu(f["updates"])
        + f"); the first flush, inserting every row: {f['insert']['total_s']} s"
        + (f"; load average {f['load_avg_1m']:g} as it ended" if "load_avg_1m" in f else "")
        + _measured(f),
    )


def _others_cpu(runs: list[dict[str, Any]]) -> str:
    """Other processes' CPU during each timed run (a 2-core machine shared with other work)."""
    if not all("others_cpu_s" in r for r in runs):
        return ""
    return "; other processes' CPU meanwhile: " + ", ".join(f"{r['others_cpu_s']} s" for r in runs)


def _same_session(e: dict[str, Any]) -> str:
    """When a re-run lands on a slower machine than the first: the commit before, measured
    in the same session, interleaved with this one, tells the machine from the change."""
    before = e.get("previous_commit_same_session_apply_shares_per_s")
    if not before:
        return ""
    now = e["this_commit_same_session_apply_shares_per_s"]
    return (
        f"; this machine is slower today: interleaved runs gave {min(before):,}–"
        f"{max(before):,} shares/s for the commit before earnings and {min(now):,}–"
        f"{max(now):,} for this one"
    )


def _dashboard_rows(d: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The dashboard's workers-page requests at farm scale, and its pages in Chromium."""
    lists = "; ".join(f"{name} p99 {f['p99_ms']:g} ms" for name, f in d["lists"].items())
    worst = d["worst_p99_ms"]
    pages = d["pages"]
    first = max(p["first_figure_s"] for p in pages.values())
    heaviest = max(p["transferred_bytes"] for p in pages.values())
    return [
        (f"Dashboard workers page on a sub-account of {d['subaccount_workers']:,} workers "
         f"({d['workers']:,} in the store): each request it makes, a page of 50, closed loop "
         "(`bench.dashboard`)", "each ≤ 100 ms server side",
         ("" if worst <= 100 else "**missed**: ") + f"worst p99 {worst:g} ms ({lists})"
         + _measured(d)),
        ("Dashboard pages in Chromium, nothing cached: navigation → first figure on screen; "
         "bytes transferred by the whole load (API answers included)",
         "≤ 1 s; ≤ 300 KB a page load",
         ("" if first <= 1 and heaviest <= 300_000 else "**missed**: ")
         + "; ".join(f"{n} {p['first_figure_s']:g} s, {p['transferred_bytes'] / 1000:.1f} KB"
                     for n, p in pages.items()) + _measured(d)),
    ]  # fmt: skip


def _measured(step: dict[str, Any]) -> str:
    """Steps re-run on their own (``--only``) say when."""
    return f" (measured {step['measured']})" if "measured" in step else ""


def _ms(value: float) -> str:
    return f"{value / 1000:.1f} s" if value >= 1000 else f"{value:g} ms"


def _latency(f: dict[str, Any], a: dict[str, Any], limit_ms: float) -> str:
    """One read-API row: the open-loop figures, and a plain "missed" when they fall short."""
    unfinished = f.get("unfinished", 0)
    met = (
        f["p99_ms"] <= limit_ms
        and f["achieved_rps"] >= 0.99 * a["rate_rps"]
        and not f["errors"]
        and not unfinished
    )
    text = (
        f"{'' if met else '**missed**: '}p99 {'≥ ' if unfinished else ''}{_ms(f['p99_ms'])} "
        f"at {f['achieved_rps']:g} req/s (p50 {_ms(f['p50_ms'])}, p90 {_ms(f['p90_ms'])}, "
        f"max {_ms(f['max_ms'])}; {f['requests']:,} requests, {f['errors']} errors"
        + (
            f", {unfinished:,} still unanswered {a.get('grace_s', 10):g} s after the last was due"
            if unfinished
            else ""
        )
        + ")"
    )
    if "healthz" in a:
        text += f"; `/healthz` on the same set-up: p99 {_ms(a['healthz']['p99_ms'])}"
    if "wrk" in f:
        w = f["wrk"]
        text += (
            f". wrk, one connection, closed loop: {w['rps']:g} req/s, p50 {_ms(w['p50_ms'])}, "
            f"p99 {_ms(w['p99_ms'])}"
        )
    return text


def _api_method(a: dict[str, Any]) -> str:
    return (
        f"The read API figures ({a.get('date', 'same day')}): a store of {a['workers']:,} "
        f"workers in {a['subaccounts']:,} sub-accounts written with `write_flush` "
        f"({a['populate_s']} s), a `poolstats serve` process, and an open-loop load generator "
        f"in a second process (asyncio + httpx, {a['connections']} keep-alive connections): a "
        f"request is due every {1000 / a['rate_rps']:g} ms whatever the answers, latency counts "
        f"from its due time (no coordinated omission), {a['seconds']:g} s measured after "
        f"{a['warmup_s']:g} s of warm-up, and every answer must be HTTP 200 with `err_no` 0. "
        "`/healthz` (no store access) under the same load shows the floor of the HTTP stack "
        "and the generator. wrk (a C client; closed loop, so no fixed rate) shows the server's "
        "own time per request where it is installed. `python -m bench.api` runs this one alone."
    )


GB = 10**9


def _stratum_rows(s: dict[str, Any]) -> list[tuple[str, str, str]]:
    pc, tcp, ol, c = s["per_core"], s["tcp"], s["open_loop"], s["connections"]
    rows = [
        ("Stratum share checks, one core: `protocol.decode`, `Session.handle` (coinbase, "
         f"{pc['merkle_steps']}-step merkle branch, header, double SHA-256, target, vardiff, "
         "duplicate set), the answer and the share event",
         "≥ 20,000 validated shares/s per core",
         f"{'' if pc['shares_per_s'] >= 20_000 else '**missed**: '}{pc['shares_per_s']:,} "
         f"accepted shares/s (median of {len(pc['runs_shares_per_s'])} runs of "
         f"{pc['shares']:,}, each share its own nonce; {pc['shares_per_cpu_s']:,} per CPU "
         f"second). Through TCP into a real node: {tcp['shares_per_s']:,} shares/s over "
         f"{tcp['connections']} connections, {tcp['shares_per_node_cpu_s']:,} per CPU second "
         f"of the node process ({tcp['node_cpu_us_per_share']:g} µs a share, journal and "
         "engine included)" + _measured(s)),
    ]  # fmt: skip
    mib = c["hwm_mib"]
    short = c["miners"] < c["miners_wanted"]
    at_wanted = (c["rss_idle_mib"] * 2**20 + c["bytes_per_connection"] * c["miners_wanted"]) / 2**20
    probe, d = c["probe"], c["submits_during_refreshes"]
    met = not short and mib * 2**20 <= GB and not c["failed"] and not c["refresh"]["missing"]
    rows.append((
        "Stratum connections held by one node process (`poolstats serve --stratum-port`)",
        f"≥ {c['miners_wanted']:,} concurrent connections within 1 GB",
        (
            ""
            if met
            else f"**short of {c['miners_wanted']:,} here**: "
            if short and mib * 2**20 <= GB and not c["failed"] and not c["refresh"]["missing"]
            else "**missed**: "
        )
        + f"{c['connected']:,} subscribed and authorized miners"
        + (f" (as many as the process's limit of {c['node_files_limit']:,} open files "
           "allows: raising it needs CAP_SYS_RESOURCE, which this machine does not give)"
           if short else "")
        + f"; VmHWM {mib:g} MiB, VmRSS {c['rss_held_mib']:g} MiB held against "
        f"{c['rss_idle_mib']:g} MiB idle: {c['bytes_per_connection']:,} B a connection, "
        f"{at_wanted:.0f} MiB at {c['miners_wanted']:,}. Meanwhile a fresh miner: subscribe "
        f"{_ms(probe['subscribe']['p50_ms'])}, authorize {_ms(probe['authorize']['p50_ms'])}, "
        f"submit {_ms(probe['submit']['p50_ms'])} (p50 of {probe['tries']}; max "
        f"{_ms(max(probe[k]['max_ms'] for k in ('subscribe', 'authorize', 'submit')))}; "
        f"{probe['accepted']}/{probe['tries']} shares accepted). A periodic job refresh "
        f"reached all {c['refresh']['received']:,} in {_ms(c['refresh']['last_ms'])} "
        f"(half of them in {_ms(c['refresh']['p50_ms'])}); submits at {d['rate_per_s']:g}/s "
        f"across {d['seconds'] / c['job_refresh_s']:g} refreshes: p50 {_ms(d['p50_ms'])}, "
        f"p99 {_ms(d['p99_ms'])}, max {_ms(d['max_ms'])} ({d['accepted']:,}/{d['requests']:,} "
        "accepted)",
    ))  # fmt: skip
    ol_met = (
        ol["p99_ms"] <= 5
        and ol["achieved_per_s"] >= 0.99 * ol["rate_per_s"]
        and ol["accepted"] == ol["requests"]
    )
    rows.append((
        f"Stratum `mining.submit` → answer, the share journaled first; open loop at "
        f"{ol['rate_per_s']:,.0f} shares/s over {ol['connections']} connections",
        "p99 ≤ 5 ms at 5,000 shares/s",
        ("" if ol_met else "**missed**: ")
        + f"p99 {_ms(ol['p99_ms'])} at {ol['achieved_per_s']:,.0f} shares/s (p50 "
        f"{_ms(ol['p50_ms'])}, p99.9 {_ms(ol['p99.9_ms'])}, max {_ms(ol['max_ms'])}; "
        f"{ol['requests']:,} submits, {ol['accepted']:,} accepted, {ol['unanswered']} "
        f"unanswered; the node's own clock, from reading a submit to writing its answer: "
        f"{ol['node_answered_within_5ms']:.1%} within 5 ms; node "
        f"{ol['node_cpu_us_per_share']:g} µs CPU a share; other processes used "
        f"{ol['other_processes_cpu_s']:g} CPU s meanwhile)",
    ))  # fmt: skip
    return rows


def _stratum_method(s: dict[str, Any]) -> str:
    ol = s["open_loop"]
    return (
        "The stratum figures: the one-core figure is `Session.handle` in a loop in a fresh "
        "process (a job with a 12-step merkle branch and a mainnet-like nbits; a connection "
        "difficulty of 2^-48, so every target is the largest and every share with a new "
        "nonce is accepted; every answer checked). The others use a real `poolstats serve "
        "--stratum-port` process (uvloop; static jobs, so an empty merkle branch; the "
        "difficulty fixed at 2^-48; one sub-account) whose memory, CPU and open files are "
        "read from /proc; miners are "
        "asyncio clients written apart from the server, in their own processes: 4 holding "
        "the idle connections from 127.0.0.2-5, one sending submits open loop (request i "
        f"due at start + i / {ol['rate_per_s']:g} s whatever the answers, latency counted "
        f"from its due time, {ol['requests']:,} measured after {ol['warmup_s']:g} s of "
        "warm-up), one flooding (4 submits in flight on each of 200 connections). Each "
        "timed part waits for a quiet machine first and records the CPU other processes "
        "used meanwhile. `python -m bench --only stratum` runs this step alone."
    )


def _hostile_row(h: dict[str, Any]) -> tuple[str, str, str]:
    def part(name: str, f: dict[str, Any]) -> str:
        return (
            f"{name}: p50 {_ms(f['p50_ms'])}, p99 {_ms(f['p99_ms'])}, max {_ms(f['max_ms'])}, "
            f"{f['within_limit']}/{f['requests']} within 100 ms, {f['failed']} failed"
        )

    both = (h["healthz"], h["ingest"])
    met = all(f["failed"] == 0 and f["within_limit"] == f["requests"] for f in both)
    quiet = h["quiet_node"]
    return (
        f"`/healthz` and a one-share ingest from a new connection each while "
        f"{h['held_connections']:,} connections are held open without finishing a request "
        f"(from {h['held_connections'] // h['per_address']} addresses)",
        "every answer within 100 ms",
        ("" if met else "**missed**: ")
        + part("`/healthz`", h["healthz"]) + "; " + part("ingest", h["ingest"])
        + f". The node closed all {h['closed_by_node']:,} (the last {h['last_closed_s']:g} s "
        f"after the holder had opened them; by reason: "
        + ", ".join(f"{k} {v:,.0f}" for k, v in sorted(h["closed_by_reason"].items()))
        + f"). The same probes on the quiet node: p99 {_ms(quiet['healthz']['p99_ms'])} and "
        f"{_ms(quiet['ingest']['p99_ms'])}" + _measured(h),
    )  # fmt: skip


def _hostile_method(h: dict[str, Any]) -> str:
    return (
        "The held-open connections figure: a `poolstats serve` process with its default "
        "limits, a holder process (`tests/http_holder.py`) opening connections at about "
        "5,000 a second from 127.0.0.2 onwards that send nothing, half a request line or half "
        f"their headers, and a prober sending `/healthz` and ingest open loop from 127.0.0.1 "
        f"({h['probe_rate_per_s']:g} a second, each on a new connection, latency from its due "
        f"time) for {h['seconds']:g} s from the holder's start. `python -m bench --only "
        "hostile` runs this step alone."
    )


def _cluster_rows(c: dict[str, Any]) -> list[tuple[str, str, str]]:
    runs = c["ingest"]

    def one(x: dict[str, Any]) -> str:
        return (
            f"{x['partitions']} partition{'s' if x['partitions'] > 1 else ''}, "
            f"{x['gateways']} gateway{'s' if x['gateways'] > 1 else ''}: "
            f"{x['acknowledged_per_s']:,} acknowledged/s, {x['stored_per_s']:,} stored/s (from "
            f"the first request until the store's totals caught up, "
            f"{x['store_caught_up_after_load_s']:g} s after the last acknowledgement); "
            f"{'exact' if x['exact'] else '**NOT exact**'} "
            f"({x['stored']:,} of {x['acknowledged']:,})"
            + (f", {x['failed_flushes']} flushes refused" if x.get("failed_flushes") else "")
        )

    two = [x for x in runs if x["partitions"] == 2]
    # Met when the gateways acknowledged the rate and the aggregators kept up with it: the
    # store caught up within one flush interval and one flush of the load's end.
    met = any(
        x["acknowledged_per_s"] >= 300_000 and x["exact"]
        and x["store_caught_up_after_load_s"] <= 2 * x["flush_interval_s"]
        for x in two
    )  # fmt: skip
    lag = c["lag"]
    never = lag.get("never_committed_requests", 0)
    lag_met = lag["lag_p99_s"] <= 20 and lag["exact"] and not never
    tk = c["takeover"]
    tk_met = all(t["lease_taken_s"] <= 10 and t["store_whole_again_s"] <= 10 and t["exact"]
                 for t in tk)  # fmt: skip
    return [
        ("Cluster ingest end to end: `poolstats gateway` → NATS JetStream → `poolstats "
         "aggregate` per partition → PostgreSQL, columnar batches of "
         f"{runs[0]['shares_per_request']:,} shares, {runs[0]['connections']} connections; "
         "the store's `sum(accept_count)` compared with what the gateways acknowledged",
         "≥ 300,000 shares/s with 2 partitions (acknowledged, and the store keeping up: "
         "its totals caught up within 2 flush intervals of the load's end)",
         ("" if met else "**missed**: ") + "; ".join(one(x) for x in runs) + _measured(c)),
        (f"Store lag (a share's acknowledgement → the commit of the flush holding it) with "
         f"{lag['workers']:,} workers of {lag['subaccounts']:,} sub-accounts sending "
         f"continuously, {lag['partitions']} partitions, {lag['gateways']} gateway(s), "
         f"flush interval {lag['flush_interval_s']:g} s",
         "p99 ≤ 20 s",
         ("" if lag_met else "**missed**: ")
         + (f"{never:,} of {lag['requests'] + never:,} requests never committed while the "
            f"bench watched (stored sequence per partition at the end "
            f"{lag.get('stored_seq_at_end')}, stream's last {lag.get('stream_last_seq')}); "
            "of the others: " if never else "")
         + f"p50 {lag['lag_p50_s']:g} s, p99 {lag['lag_p99_s']:g} s, max {lag['lag_max_s']:g} s "
         f"over {lag['requests']:,} requests of {lag['shares_per_request']:,} shares in "
         f"{lag['seconds']:g} s at {lag['acknowledged_per_s']:,} shares/s acknowledged "
         f"(offered {lag['offered_shares_per_s']:,.0f}/s); a partition's commits came every "
         f"{lag['flush_s'].get('between_commits_p50_s', 0):g} s (p50; max "
         f"{lag['flush_s'].get('between_commits_max_s', 0):g} s); "
         f"{'exact' if lag['exact'] else '**NOT exact**'} ({lag['stored']:,} of "
         f"{lag['acknowledged']:,} in `workers`, {lag.get('history_shares', 0):,} in the hourly "
         f"history); {lag.get('failed_flushes', 0)} flushes refused for a lapsed lease, "
         f"{lag.get('activations', 0)} activations of the {lag['partitions']} aggregators"),
        (f"Take-over after kill -9 of partition 0's active aggregator under load, a hot "
         f"standby running (lease TTL {tk[0]['lease_ttl_s']:g} s, flush interval "
         f"{tk[0]['flush_interval_s']:g} s)",
         "≤ 10 s",
         ("" if tk_met else "**missed**: ")
         + "; ".join(f"standby held the lease after {t['lease_taken_s']:g} s, the store had "
                     f"every share acknowledged before the kill after "
                     f"{t['store_whole_again_s']:g} s"
                     f"{'' if t['exact'] else ' (**NOT exact**)'}" for t in tk)
         + "; every run exact" * all(t["exact"] for t in tk)
         + f". The new holder's first flush comes one flush interval after it takes the "
         f"lease, so with the default 10 s interval instead of {tk[0]['flush_interval_s']:g} s "
         "the store would be whole again only ~15–17 s after the kill (lease + interval + "
         "flush; not measured)"),
    ]  # fmt: skip


def _cluster_method(c: dict[str, Any]) -> str:
    return (
        "The cluster figures (`bench/cluster.py`; `python -m bench --only cluster`): every "
        "part a real process on this one machine, over loopback: a nats-server of the "
        "bench's own (JetStream file storage in a temporary folder, one replica, "
        "`max_payload` 8 MiB since a partition's record of a 50,000-share batch is over the "
        "1 MiB default), PostgreSQL (a fresh database per run, copied from one holding "
        f"{c['users']['subaccounts']:,} sub-accounts made with `create_user`), `poolstats "
        "gateway` and `poolstats aggregate --partition K` processes configured by "
        "`POOLSTATS_*` variables, and a load generator process posting prebuilt columnar "
        "bodies (`encode_table` with the workers' puids) each with an Idempotency-Key of its "
        "own. Throughput: 20 s as fast as the gateways answer, over 100,000 workers of 1,000 "
        "sub-accounts, flush interval 10 s, no standbys; the store's total is polled every "
        "0.5 s and the run waits for it to equal what was acknowledged, then checks that "
        "nothing more comes. Store lag: open loop at a fixed rate; each request's stream "
        "sequence per partition is read back from the stream afterwards (its `Nats-Msg-Id` "
        "is the Idempotency-Key plus the partition and the record's number) and its commit "
        "time is the first poll (every 50 ms) of the partition's stored sequence "
        "(`meta` `history_seq/K`) at or past it: an upper bound, by at most the poll "
        "interval. Take-over: 2 partitions, each with an active aggregator and a hot "
        "standby, load at a fixed rate, kill -9 of partition 0's lease holder; the lease "
        "read from `leases` and partition 0's sub-accounts' `sum(accept_count)` polled "
        "every 0.1 s. CPU seconds per process from /proc."
    )


def _lag_diagnosis(lag: dict[str, Any], flush_s: float, changed: float) -> list[str]:
    """Where the time goes when the store lag is missed (from the run's own figures)."""
    if lag["lag_p99_s"] <= 20 and lag["exact"] and not lag.get("never_committed_requests"):
        return []
    return [
        f"Why the store lag is missed at {lag['workers']:,} workers: each partition's flush "
        f"(~{changed:,.0f} changed workers) takes ~{flush_s:.0f} s in PostgreSQL beyond the "
        "flush interval (the partitions' flushes run in parallel, but on the same 2 cores "
        "as the gateways, aggregators and nats-server): a partition commits every "
        f"{lag['flush_s']['between_commits_p50_s']:.1f} s (p50) instead of every flush "
        "interval. Leases are renewed outside that lock (`lease_write`) and a flush checks "
        "its lease last, just before its commit, so no aggregator loses its lease to a long "
        f"flush ({lag.get('failed_flushes', 0)} flushes refused, "
        f"{lag.get('activations', 0)} activations for 2 aggregators). The aggregator and "
        "gateway CPU (see the CPU figures in the raw data) are not the limit; the flush's "
        "time in PostgreSQL is.",
        "",
    ]


def _cluster_model(c: dict[str, Any], r: dict[str, Any]) -> list[str]:
    """Capacity per part, from the measured figures only, and what a 10 M-worker,
    1 M shares/s pool would need."""
    runs = c["ingest"]
    agg_cpu = [sum(v for k, v in x["cpu_s"].items() if k.startswith("agg")) for x in runs]
    gw_cpu = [sum(v for k, v in x["cpu_s"].items() if k.startswith("gw")) for x in runs]
    nats_cpu = [x["cpu_s"].get("nats", 0.0) for x in runs]
    per = [x["acknowledged"] for x in runs]
    agg_rate = min(round(n / s) for n, s in zip(per, agg_cpu, strict=True) if s)
    gw_rate = min(round(n / s) for n, s in zip(per, gw_cpu, strict=True) if s)
    nats_rate = min(round(n / s) for n, s in zip(per, nats_cpu, strict=True) if s)
    best = max(runs, key=lambda x: x["acknowledged_per_s"])
    pg = c["pg_flush"]
    # (``bench.store_pg.flushes``; before its per-flush figures, only the median was kept)
    pg_s = pg["median_update"]["total_s"] if "median_update" in pg else pg["median_update_s"]
    pg_updates = len(pg.get("updates", ())) or 9
    pg_rows_per_s = round(pg["n_workers"] / pg_s)
    lag = c["lag"]
    interval = lag["flush_interval_s"]
    flush_s = max(0.0, lag["flush_s"].get("between_commits_p50_s", interval) - interval)
    part_workers = lag["workers"] / lag["partitions"]
    shares_per_flush = lag["acknowledged_per_s"] * interval / lag["partitions"]
    changed = part_workers * (1 - np.exp(-shares_per_flush / part_workers))
    workers, rate = 10_000_000, 1_000_000
    changed_big = workers * (1 - np.exp(-rate * interval / workers))
    pg_needed = changed_big / interval
    by_cpu = -(-rate // agg_rate)
    max_changed_per_partition = pg["n_workers"] * (interval / 2) / pg_s  # flush ≤ interval/2
    by_flush = int(-(-changed_big // max_changed_per_partition))
    partitions = max(by_cpu, by_flush)
    gateways = -(-rate // gw_rate) + 1  # one more, so that losing one loses no capacity
    api = r.get("api")
    api_text = (
        f"one API replica answered {api['rate_rps']:g} req/s of `GET /v1/worker` (p99 "
        f"{api['worker_list']['p99_ms']:g} ms) and of `/v1/worker/stats` (p99 "
        f"{api['worker_stats']['p99_ms']:g} ms) on a {api['workers']:,}-worker store: the rate "
        "tested, not a saturation point, so read capacity is at least that per replica "
        "and replicas add up (each reads the store independently)"
        if api
        else "no API figures recorded"
    )
    return [
        "## Cluster scaling model",
        "",
        "Derived from the figures above only (this 2-core machine runs every part at once, so "
        "per-part capacity is stated per CPU second of that part: what one dedicated core "
        "would carry).",
        "",
        f"- **Aggregator (one per partition)**: at least {agg_rate:,} shares per CPU second "
        "(the lowest over the throughput runs: decode the bus record, look up the workers, "
        "`Engine.apply`, drain and write the flushes). Its flush of changed workers to "
        f"PostgreSQL: {pg_s:g} s per {pg['n_workers']:,} workers (drain and `write_flush`, "
        f"one writer, median of the {pg_updates} updates of `bench.store_pg`), i.e. "
        f"{pg_rows_per_s:,} worker rows/s per writer; under the {lag['workers']:,}-worker "
        f"load a partition flushed ~{changed:,.0f} changed workers at a time and committed "
        f"every {lag['flush_s'].get('between_commits_p50_s', 0):g} s (p50) with a "
        f"{interval:g} s interval (flushes start an interval apart).",
        f"- **Gateway**: at least {gw_rate:,} shares per CPU second (judge, split per "
        f"partition, publish); the fastest run acknowledged {best['acknowledged_per_s']:,} "
        f"shares/s with {best['gateways']} gateway(s) and {best['partitions']} partition(s). "
        f"nats-server: at least {nats_rate:,} shares per CPU second (one replica).",
        f"- **API replica**: {api_text}.",
        "",
        *_lag_diagnosis(lag, flush_s, changed),
        f"A pool of {workers:,} workers sending {rate:,} shares/s, flush interval "
        f"{interval:g} s: each flush finds ~{changed_big:,.0f} changed workers "
        f"(1 − e^(−shares per interval / workers)), so PostgreSQL must take "
        f"**~{pg_needed:,.0f} worker rows/s**, against {pg_rows_per_s:,} per writer measured "
        f"here: **PostgreSQL's write rate saturates first**, at {pg_needed / pg_rows_per_s:.1f}× "
        "one writer. Partitions' flushes run in parallel (`_WRITE_LOCK` is taken shared by "
        "flushes; they wait for each other only at the pool's history row, just before "
        "their commits), so write capacity grows with partitions up to the cores and the "
        "disk of the PostgreSQL server: reaching this pool needs a PostgreSQL with that many "
        "cores' worth of write throughput and the disk behind it, or a database per group "
        "of partitions. "
        "Aggregator CPU alone needs "
        f"{by_cpu} partition(s) ({rate:,} / {agg_rate:,}); keeping each flush within half the "
        f"interval needs {by_flush} ({changed_big:,.0f} changed workers / "
        f"{max_changed_per_partition:,.0f} per partition): "
        f"**{partitions} partitions** (one "
        f"core each, plus a standby each), **{gateways} gateways** ({rate:,} / {gw_rate:,} "
        "rounded up, plus one for failure), nats-server at "
        f"{rate / nats_rate:.1f} cores (×3 with 3 replicas), and API replicas by the read rate.",
        "",
    ]


if __name__ == "__main__":
    if sys.argv[1:] == ["--rewrite"]:
        rewrite()
    elif sys.argv[1:2] == ["--only"]:
        main(sys.argv[2:])
    else:
        main()
