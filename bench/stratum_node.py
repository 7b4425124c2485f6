"""The stratum benchmarks' server: a real ``poolstats serve --stratum-port`` process (HTTP API,
engine, store and the stratum server on uvloop, shares journaled by the node's ingest before
each answer), on a temporary data dir with one sub-account, ``bench``.

Its memory, CPU time and open files are read from /proc as the kernel counts them, and its
stratum counters from ``/metrics``, so nothing in it is changed for the benchmark.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench.process import raise_nofile
from bench.server import free_port, wait_healthy
from poolstats.config import env_name
from poolstats.store.sqlite import SqliteStore

USER = "bench"
#: Low enough that ``target_of`` gives the largest target: every share with a fresh nonce is
#: accepted, so the figures are of validated, accepted shares. A power of two, so the
#: command line's float is exact; the maximum is the same, so vardiff keeps it.
ANY_SHARE_DIFF = Fraction(1, 2**48)
WANT_NOFILE = 65_536  # 20,000 miners and the node's own files, where the kernel allows it


@dataclass
class Node:
    process: subprocess.Popen[bytes]
    url: str
    stratum_port: int

    def _proc(self, name: str) -> str:
        return Path(f"/proc/{self.process.pid}/{name}").read_text()

    def memory_kib(self) -> dict[str, int]:
        """VmHWM (the peak) and VmRSS (now) of the node process, in KiB."""
        found = {}
        for line in self._proc("status").splitlines():
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                found[key] = int(value.split()[0])
        return found

    def cpu_s(self) -> float:
        """User + system CPU seconds of the node process, every thread."""
        fields = self._proc("stat").rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def files(self) -> dict[str, int]:
        """Open files of the node process, and the most it may open."""
        limit = 0
        for line in self._proc("limits").splitlines():
            if line.startswith("Max open files"):
                limit = int(line.split()[3])
        return {"open": len(os.listdir(f"/proc/{self.process.pid}/fd")), "limit": limit}

    def stratum(self) -> dict[str, float]:
        """The node's stratum metrics: open connections, submits by result, and how many
        it answered (from reading the line to writing the answer) within 5 ms."""
        text = httpx.get(self.url + "/metrics", timeout=30).text
        out: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                le = s.labels.get("le") if s.name.endswith("_submit_seconds_bucket") else None
                if s.name == "poolstats_stratum_connections":
                    out["connections"] = s.value
                elif s.name == "poolstats_stratum_submits_total":
                    out[f"submits_{s.labels.get('result', '')}"] = s.value
                elif le in ("0.005", "+Inf"):  # answered within 5 ms, and all answered
                    out[f"answered_{le}"] = s.value
        return out


def _accepting(port: int, process: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise RuntimeError("the node exited")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@contextlib.contextmanager
def node(job_refresh_s: float = 30.0) -> Iterator[Node]:
    """``poolstats serve`` with a static-template stratum server where every share counts."""
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        with SqliteStore.open(data_dir) as store:
            store.create_user(USER, int(time.time()))
        http_port, stratum_port = free_port(), free_port()
        diff = repr(float(ANY_SHARE_DIFF))
        env = {**os.environ, env_name("stratum_job_refresh_s"): str(job_refresh_s)}
        log = (data_dir / "node.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "poolstats", "serve", "--data-dir", str(data_dir),
             "--port", str(http_port), "--stratum-port", str(stratum_port),
             "--stratum-jobs", "static", "--stratum-min-diff", diff, "--stratum-max-diff", diff],
            env=env, stdout=log, stderr=log, preexec_fn=lambda: raise_nofile(WANT_NOFILE),
        )  # fmt: skip
        url = f"http://127.0.0.1:{http_port}"
        try:
            try:
                wait_healthy(url, process)
                _accepting(stratum_port, process)
            except (RuntimeError, OSError) as exc:
                tail = (data_dir / "node.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"the node did not start: {exc}\n{tail}") from exc
            yield Node(process, url, stratum_port)
        finally:
            process.terminate()
            process.wait(60)
            log.close()
