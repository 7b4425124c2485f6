"""The stratum front end's figures: validated shares per second on one core, 20,000 miners
on one node process, and submit-to-answer latency at 5,000 shares/s.

1. ``per_core``: the server's whole per-share work in a loop on one core, in a fresh
   process: decode the line (``protocol.decode``), ``Session.handle`` (coinbase, a 12-step
   merkle branch as for a block of ~3,000 transactions, header, double SHA-256, target,
   vardiff, duplicate set), the answer's bytes and the share event's JSON. The connection
   difficulty makes every target the largest, so every share (each with its own nonce) is
   accepted, and every answer is checked.
2. ``connections``: a real node (``bench.stratum_node``: ``poolstats serve --stratum-port``)
   and client processes holding as many subscribed, authorized miners as the node may open
   files for (20,000 where the limit allows), from several source addresses; the node's
   VmHWM/VmRSS; fresh miners' connect, subscribe, authorize and submit while they are all
   connected; and the periodic job refresh: from the first miner's ``mining.notify`` until
   the last of them had it.
3. ``latency``: a fresh node, and an open-loop generator in another process sending 5,000
   submits/s over 100 connections (each answer comes after the share is journaled by the
   node's ingest); then ``tcp``: as many submits as the node takes, with its CPU seconds per
   share.

The machine may run other work: each timed part first waits (a bounded time) for a quiet
machine, and records the CPU seconds that other processes used while it ran.
``python -m bench.stratum`` runs this step alone and prints its JSON.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import multiprocessing
import multiprocessing.connection
import statistics
import sys
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

import msgspec
import numpy as np

from bench import stratum_load
from bench.process import machine_cpu_s, wait_quiet
from bench.stratum_node import ANY_SHARE_DIFF, Node, node
from poolstats.stratum import protocol
from poolstats.stratum.jobs import JobBook, StaticTemplate
from poolstats.stratum.session import Limits, Session
from poolstats.stratum.shares import Job

SPAWN = multiprocessing.get_context("spawn")
T = TypeVar("T")
NOW = 1_790_000_000
#: A block of ~3,000 transactions: 12 merkle steps above the coinbase (2**11 < 3,000 <= 2**12).
BRANCH = tuple(bytes([step]) * 32 for step in range(1, 13))
NETWORK_NBITS = 0x17023A04  # a mainnet-like target: no share is a block by chance
FILES_SPARE = 32  # files the node keeps for itself: probes, journal segments, the store
QUIET_WAIT_S = 120.0
DURING_RATE = 200.0  # submits/s while the 20,000 are held


def _in_process(work: Callable[..., T], *args: Any) -> T:
    """``work(*args)`` in a fresh process (its own core, its own heap)."""
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=SPAWN) as pool:
        return pool.submit(work, *args).result()


# --- 1. one core -------------------------------------------------------------------------------


def mainnet_job(job_id: str) -> Job:
    """The static template's job with a full block's merkle branch and a real target."""
    static = StaticTemplate(height=900_000, payout_script=b"\x00\x14" + bytes(20))
    return dataclasses.replace(static.job(job_id, NOW), branch=BRANCH, nbits=NETWORK_NBITS)


def _per_core_once(shares: int) -> dict[str, float]:
    book = JobBook()
    entry = book.add(mainnet_job(book.next_id()), clean=True)
    limits = Limits(ANY_SHARE_DIFF, ANY_SHARE_DIFF, ANY_SHARE_DIFF)
    session = Session(b"\x00\x00\x00\x01", book, limits, lambda user: 1, "203.0.113.7")
    session.handle(protocol.decode(b'{"id":1,"method":"mining.subscribe","params":[]}'), NOW)
    session.handle(
        protocol.decode(b'{"id":2,"method":"mining.authorize","params":["bench.rig1","x"]}'), NOW
    )
    job_id, ntime = entry.job.job_id.encode(), b"%08x" % entry.job.ntime
    lines = [
        b'{"id":%d,"method":"mining.submit","params":["bench.rig1","%s","%08x","%s","%08x"]}\n'
        % (i, job_id, i >> 32, ntime, i & 0xFFFFFFFF)
        for i in range(shares)
    ]
    answers: list[bytes] = []
    events: list[bytes] = []
    encode = msgspec.json.Encoder().encode
    wall, cpu = time.perf_counter(), time.process_time()
    for line in lines:  # what the server does per line, less the socket
        outcome = session.handle(protocol.decode(line), NOW + 60)
        answers.append(b"".join(outcome.lines))
        events.extend(encode(event) for event in outcome.shares)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    expected = [b'{"id":%d,"result":true,"error":null}\n' % i for i in range(shares)]
    if answers != expected or len(events) != shares or len(entry.shares.seen) != shares:
        raise RuntimeError("not every share was accepted once")
    return {"shares_per_s": shares / wall, "shares_per_cpu_s": shares / cpu}


def per_core_process(shares: int, repeats: int) -> dict[str, Any]:
    """Process entry: ``repeats`` runs of ``shares`` submits; the median and every run."""
    runs = [_per_core_once(shares) for _ in range(repeats)]
    rates = [round(r["shares_per_s"]) for r in runs]
    return {
        "shares": shares,
        "merkle_steps": len(BRANCH),
        "shares_per_s": round(statistics.median(rates)),
        "shares_per_cpu_s": round(statistics.median(r["shares_per_cpu_s"] for r in runs)),
        "runs_shares_per_s": rates,
    }


def per_core(shares: int, repeats: int = 3) -> dict[str, Any]:
    quiet = wait_quiet(QUIET_WAIT_S)
    return {**_in_process(per_core_process, shares, repeats), "machine_busy_before": quiet}


# --- 2. 20,000 miners --------------------------------------------------------------------------


def _receive(pipe: multiprocessing.connection.Connection, timeout_s: float, what: str,
             process: BaseProcess) -> Any:  # fmt: skip
    """The next message from a bench process, within ``timeout_s`` (and while it runs)."""
    deadline = time.monotonic() + timeout_s
    while not pipe.poll(0.5):
        if not process.is_alive():
            raise RuntimeError(f"{what}: the process exited ({process.exitcode})")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: no answer within {timeout_s:g} s")
    return pipe.recv()


def connections(wanted: int, processes: int, job_refresh_s: float, probes: int) -> dict[str, Any]:
    with node(job_refresh_s) as n:
        idle, files = n.memory_kib(), n.files()
        total = min(wanted, files["limit"] - files["open"] - FILES_SPARE)
        each = total // processes
        total = each * processes
        pipes, holders = [], []
        started = time.monotonic()
        for k in range(processes):
            ours, theirs = SPAWN.Pipe()
            args = (theirs, n.stratum_port, f"127.0.0.{k + 2}", each, k * each, 64)
            holder = SPAWN.Process(target=stratum_load.hold, args=args, daemon=True)
            holder.start()
            pipes.append(ours)
            holders.append(holder)
        try:
            reports = [
                _receive(p, 300, "connecting", h) for p, h in zip(pipes, holders, strict=True)
            ]
            all_in = time.monotonic()
            held, held_stratum = n.memory_kib(), n.stratum()
            probe = _in_process(stratum_load.probe, n.stratum_port, probes)
            # Submits at a steady rate across two refreshes: what a broadcast to every
            # miner costs the others (the loop sends it to each connection in turn).
            during = _in_process(stratum_load.open_loop, n.stratum_port, DURING_RATE,
                                 2 * job_refresh_s, 0.0, 4)  # fmt: skip
            # The first periodic refresh after everyone is in, then when each miner had it.
            pipes[0].send(("job_after", all_in, 3 * job_refresh_s))
            job_id = _receive(pipes[0], 6 * job_refresh_s, "job refresh", holders[0])
            if job_id is None:
                raise RuntimeError("no job refresh reached the miners")
            for p in pipes:
                p.send(("job", job_id, 60.0))
            receipts = [
                _receive(p, 120, "job receipts", h) for p, h in zip(pipes, holders, strict=True)
            ]
            after = n.memory_kib()
        finally:
            for p in pipes:
                p.send("stop")
            for holder in holders:
                holder.join(60)
    received = np.array([t for r in receipts for t in r["received"]])
    received -= received.min()
    handshakes = np.array([t for r in reports for t in r["handshake_s"]])
    return {
        "miners_wanted": wanted,
        "miners": total,
        "client_processes": processes,
        "connected": sum(r["connected"] for r in reports),
        "failed": sum(r["failed"] for r in reports),
        "failure_samples": [f for r in reports for f in r["failures"]][:3],
        "connect_all_s": round(all_in - started, 2),
        "handshake": stratum_load.percentiles_ms(handshakes),
        "node_connections": int(held_stratum.get("connections", 0)),
        "node_files_limit": files["limit"],
        "node_files_before": files["open"],
        "rss_idle_mib": round(idle["VmRSS"] / 1024, 1),
        "rss_held_mib": round(held["VmRSS"] / 1024, 1),
        "rss_after_refresh_mib": round(after["VmRSS"] / 1024, 1),
        "hwm_mib": round(after["VmHWM"] / 1024, 1),
        "bytes_per_connection": round((held["VmRSS"] - idle["VmRSS"]) * 1024 / max(total, 1)),
        "probe": probe,
        "submits_during_refreshes": {
            k: during[k]
            for k in ("rate_per_s", "seconds", "requests", "accepted", "p50_ms", "p99_ms", "max_ms")
        },
        "job_refresh_s": job_refresh_s,
        "refresh": {
            "received": len(received),
            "missing": sum(r["missing"] for r in receipts),
            "closed": sum(r["closed"] for r in receipts),
            "p50_ms": round(float(np.percentile(received, 50)) * 1e3, 1),
            "last_ms": round(float(received.max()) * 1e3, 1),
        },
    }


# --- 3. latency, and the TCP throughput ------------------------------------------------------


def _timed(n: Node, work: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """``work`` in a fresh process against the node, with what the node and the rest of the
    machine spent meanwhile."""
    quiet = wait_quiet(QUIET_WAIT_S)
    submits, cpu, machine = n.stratum(), n.cpu_s(), machine_cpu_s()
    figures = _in_process(work, *args)
    node_cpu, machine = n.cpu_s() - cpu, machine_cpu_s() - machine
    after = n.stratum()
    accepted, answered, within_5ms = (
        after.get(k, 0) - submits.get(k, 0)
        for k in ("submits_accepted", "answered_+Inf", "answered_0.005")
    )
    others = machine - node_cpu - figures["generator_cpu_s"]
    return {
        **figures,
        "node_accepted": int(accepted),
        "node_cpu_s": round(node_cpu, 2),
        "node_cpu_us_per_share": round(node_cpu / max(accepted, 1) * 1e6, 1),
        "node_answered_within_5ms": round(within_5ms / max(answered, 1), 4),  # its own clock
        "other_processes_cpu_s": round(max(0.0, others), 2),
        "machine_busy_before": quiet,
    }


def latency(rate: float, seconds: float, warmup_s: float, load_connections: int,
            flood_s: float, flood_connections: int, depth: int) -> dict[str, Any]:  # fmt: skip
    with node() as n:
        port = n.stratum_port
        open_loop = _timed(n, stratum_load.open_loop, port, rate, seconds, warmup_s,
                           load_connections)  # fmt: skip
        tcp = _timed(n, stratum_load.flood, port, flood_s, flood_connections, depth)
    tcp["shares_per_node_cpu_s"] = round(tcp["node_accepted"] / max(tcp["node_cpu_s"], 1e-9))
    return {"open_loop": open_loop, "tcp": tcp}


def run(
    miners: int = 20_000,
    client_processes: int = 4,
    rate: float = 5_000.0,
    seconds: float = 20.0,
    warmup_s: float = 3.0,
    load_connections: int = 100,
    per_core_shares: int = 200_000,
    job_refresh_s: float = 5.0,
    flood_s: float = 10.0,
) -> dict[str, Any]:
    results: dict[str, Any] = {"per_core": per_core(per_core_shares)}
    print(json.dumps({"per_core": results["per_core"]}), file=sys.stderr, flush=True)
    results.update(latency(rate, seconds, warmup_s, load_connections, flood_s, 200, 4))
    print(json.dumps({k: results[k] for k in ("open_loop", "tcp")}), file=sys.stderr, flush=True)
    results["connections"] = connections(miners, client_processes, job_refresh_s, 20)
    return results


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
