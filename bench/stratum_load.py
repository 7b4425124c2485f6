"""Load for the stratum benchmarks, each kind run in its own process (spawned), apart from
the server's:

- ``hold``: thousands of idle miners (subscribed and authorized) that only read what the
  server sends; on request it reports when each had a given job's ``mining.notify``.
- ``open_loop``: submits at a fixed rate over a few connections, whatever the answers;
  latency counts from each request's due time (no coordinated omission).
- ``flood``: as many submits as the server takes, several in flight per connection.
- ``probe``: one fresh miner's subscribe, authorize and submit, timed.
"""

from __future__ import annotations

import asyncio
import time
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from bench.process import raise_nofile
from bench.stratum_miners import Message, MinerConnection, connect

USER = "bench"
GRACE_S = 10.0  # how long answers still missing after the last request was due may take


def percentiles_ms(seconds: np.ndarray, qs: tuple[float, ...] = (50, 99)) -> dict[str, float]:
    out = {f"p{q:g}_ms": round(float(np.percentile(seconds, q)) * 1e3, 2) for q in qs}
    out["max_ms"] = round(float(seconds.max()) * 1e3, 2)
    return out


# --- idle miners -----------------------------------------------------------------------------


def hold(control: Connection, port: int, source_ip: str, count: int, first: int,
         parallel: int) -> None:  # fmt: skip
    """Process entry: ``count`` miners from ``source_ip``, kept until told to stop."""
    asyncio.run(_hold(control, port, source_ip, count, first, parallel))


async def _hold(control: Connection, port: int, source_ip: str, count: int, first: int,
                parallel: int) -> None:  # fmt: skip
    raise_nofile(count + 100)
    miners: list[MinerConnection] = []
    handshakes: list[float] = []
    failures: list[str] = []
    gate = asyncio.Semaphore(parallel)  # a bounded number of handshakes under way at once

    async def one(k: int) -> None:
        async with gate:
            try:
                miner = await connect(port, source_ip)
                took = await miner.handshake(f"{USER}.rig{k:06d}")
            except (OSError, RuntimeError, TimeoutError) as exc:
                failures.append(f"{type(exc).__name__}: {exc}")
                return
            miners.append(miner)
            handshakes.append(took["subscribe_s"] + took["authorize_s"])

    started = time.monotonic()
    await asyncio.gather(*(one(first + k) for k in range(count)))
    control.send({
        "connected": len(miners), "failed": len(failures), "failures": sorted(set(failures))[:3],
        "seconds": time.monotonic() - started, "handshake_s": handshakes,
    })  # fmt: skip
    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[Any] = asyncio.Queue()
    loop.add_reader(control.fileno(), lambda: commands.put_nowait(control.recv()))
    while True:
        what = await commands.get()
        if what == "stop":
            break
        if what[0] == "job_after":  # the first job any miner had after a time, and its id
            _, after, timeout_s = what
            deadline = time.monotonic() + timeout_s
            while (job := _first_job_after(miners, after)) is None:
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
            control.send(job)
            continue
        _, job_id, timeout_s = what  # ("job", id, timeout): when each miner had that job
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not all(job_id in m.job_times for m in miners):
            await asyncio.sleep(0.05)
        control.send({
            "received": [m.job_times[job_id] for m in miners if job_id in m.job_times],
            "missing": sum(1 for m in miners if job_id not in m.job_times),
            "closed": sum(1 for m in miners if m.closed),
        })  # fmt: skip
    loop.remove_reader(control.fileno())
    for miner in miners:
        miner.close()
    control.send("stopped")


def _first_job_after(miners: list[MinerConnection], after: float) -> str | None:
    seen = [(t, job) for m in miners for job, t in m.job_times.items() if t > after]
    return min(seen)[1] if seen else None


# --- submits at a fixed rate ------------------------------------------------------------------


async def _miners(port: int, connections: int) -> list[MinerConnection]:
    miners = [await connect(port) for _ in range(connections)]
    await asyncio.gather(*(m.handshake(f"{USER}.load{k:04d}") for k, m in enumerate(miners)))
    return miners


def open_loop(port: int, rate: float, seconds: float, warmup_s: float,
              connections: int) -> dict[str, Any]:  # fmt: skip
    """Process entry: ``rate`` submits per second for ``warmup_s + seconds``."""
    return asyncio.run(_open_loop(port, rate, seconds, warmup_s, connections))


async def _open_loop(port: int, rate: float, seconds: float, warmup_s: float,
                     connections: int) -> dict[str, Any]:  # fmt: skip
    miners = await _miners(port, connections)
    n, n_warm = round((warmup_s + seconds) * rate), round(warmup_s * rate)
    # Prebuilt lines; request i goes on connection i % connections with nonce i (all distinct).
    lines = [
        miners[i % connections].submit_line(i, f"{USER}.load{i % connections:04d}", 0, i)
        for i in range(n)
    ]
    answered = np.full(n, np.nan)
    accepted = np.zeros(n, bool)
    errors: list[str] = []

    def on_reply(message: Message, at: float) -> None:
        i = message.id
        assert isinstance(i, int)
        answered[i] = at
        accepted[i] = message.result is True
        if message.error is not None and len(errors) < 5:
            errors.append(str(message.error))

    for m in miners:
        m.on_reply = on_reply
    start = time.monotonic() + 0.1
    due = start + np.arange(n) / rate
    sent = np.zeros(n)
    i = 0
    while i < n:
        now = time.monotonic()
        while i < n and due[i] <= now:  # everything due by now goes out at once
            miners[i % connections].write(lines[i])
            sent[i] = now
            i += 1
        if i < n:
            await asyncio.sleep(max(0.0, float(due[i]) - time.monotonic()))
    grace_end = time.monotonic() + GRACE_S
    while np.isnan(answered).any() and time.monotonic() < grace_end:
        await asyncio.sleep(0.01)
    for m in miners:
        m.close()
    window = slice(n_warm, n)
    done = ~np.isnan(answered[window])
    latency = (answered[window] - due[window])[done]
    measured_start = float(due[n_warm])
    last = float(np.nanmax(answered[window])) if done.any() else measured_start
    return {
        "generator_cpu_s": round(time.process_time(), 2),
        "rate_per_s": rate,
        "seconds": seconds,
        "warmup_s": warmup_s,
        "achieved_per_s": round(int(done.sum()) / max(last - measured_start, 1e-9), 1),
        "connections": connections,
        "requests": n - n_warm,
        "accepted": int(accepted[window].sum()),
        "unanswered": int((~done).sum()),
        "error_samples": errors,
        **percentiles_ms(latency, (50, 99, 99.9)),
        "send_lag_p99_ms": round(float(np.percentile(sent[window] - due[window], 99)) * 1e3, 3),
    }


# --- as fast as it goes -----------------------------------------------------------------------


def flood(port: int, seconds: float, connections: int, depth: int) -> dict[str, Any]:
    """Process entry: keep ``depth`` submits in flight on each connection for ``seconds``."""
    return asyncio.run(_flood(port, seconds, connections, depth))


async def _flood(port: int, seconds: float, connections: int, depth: int) -> dict[str, Any]:
    miners = await _miners(port, connections)
    counts = {"sent": 0, "accepted": 0, "refused": 0}
    next_nonce = [0] * connections
    stop = False

    def sender(k: int, miner: MinerConnection) -> Any:
        login = f"{USER}.load{k:04d}"

        def on_reply(message: Message, at: float) -> None:
            counts["accepted" if message.result is True else "refused"] += 1
            if not stop:
                send()

        def send() -> None:
            nonce = next_nonce[k]
            next_nonce[k] += 1
            counts["sent"] += 1
            miner.write(miner.submit_line(nonce, login, 0, nonce))

        return on_reply, send

    started = time.monotonic()
    for k, m in enumerate(miners):
        m.on_reply, send = sender(k, m)
        for _ in range(depth):
            send()
    await asyncio.sleep(seconds)  # the measured time (the load runs in the callbacks)
    stop = True
    answered = counts["accepted"] + counts["refused"]
    elapsed = time.monotonic() - started
    deadline = time.monotonic() + GRACE_S  # the submits in flight are answered before closing
    while counts["accepted"] + counts["refused"] < counts["sent"] and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    for m in miners:
        m.close()
    return {
        "generator_cpu_s": round(time.process_time(), 2),
        "seconds": round(elapsed, 2),
        "connections": connections,
        "in_flight_per_connection": depth,
        "answered": answered,
        "refused": counts["refused"],
        "unanswered": counts["sent"] - counts["accepted"] - counts["refused"],
        "shares_per_s": round(answered / elapsed),
    }


# --- one fresh miner --------------------------------------------------------------------------


def probe(port: int, tries: int) -> dict[str, Any]:
    """Process entry: ``tries`` fresh miners, one after another: connect, subscribe,
    authorize, submit; each step's time, and whether every share was accepted."""
    return asyncio.run(_probe(port, tries))


async def _probe(port: int, tries: int) -> dict[str, Any]:
    steps: dict[str, list[float]] = {"connect": [], "subscribe": [], "authorize": [], "submit": []}
    accepted = 0
    for k in range(tries):
        started = time.monotonic()
        miner = await connect(port)
        steps["connect"].append(time.monotonic() - started)
        took = await miner.handshake(f"{USER}.probe{k:03d}")
        steps["subscribe"].append(took["subscribe_s"])
        steps["authorize"].append(took["authorize_s"])
        assert miner.job is not None
        sent = time.monotonic()
        answer = await miner.call(
            "mining.submit", [f"{USER}.probe{k:03d}", miner.job[0], "00000000", miner.job[7],
                              f"{k:08x}"]
        )  # fmt: skip
        steps["submit"].append(time.monotonic() - sent)
        accepted += answer.result is True
        miner.close()
    return {
        "tries": tries,
        "accepted": accepted,
        **{name: percentiles_ms(np.array(values), (50,)) for name, values in steps.items()},
    }
