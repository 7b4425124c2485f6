"""Realtime state per tracked worker at 1,000,000 workers, measured as process RSS growth.

Runs in a fresh interpreter so that nothing else is in the process: RSS after importing
everything, then after one million workers have each sent shares (windows, buckets,
index and names all populated), divided by the number of workers.
"""

from __future__ import annotations

import json
import subprocess
import sys

CHILD = r"""
import json, resource, time
import numpy as np
from poolstats.engine.engine import Engine, ShareBatch

def rss():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * resource.getpagesize()

N = int(__import__('sys').argv[1])
base = rss()
engine = Engine()
t = 1_790_000_000.0
# workers arrive in batches, as they do in a pool, so capacity grows (and has slack) as it would
parts = [engine.worker_rows([i // 100 + 1 for i in range(lo, min(lo + 20_000, N))],
                            [f"rig{i:07d}" for i in range(lo, min(lo + 20_000, N))])
         for lo in range(0, N, 20_000)]
rows = np.concatenate(parts)
del parts
ips = engine.ip_codes([f"198.51.100.{i % 250}" for i in range(N // 100)])
for step in range(4):  # every worker sends shares in every ring slot kind
    engine.apply(ShareBatch(rows=rows, ts=np.full(N, t + step * 3600), diff=np.full(N, 65536.0),
                            status=(np.arange(N) % 50 == 0).astype(np.uint8),
                            ip=ips[np.arange(N) % len(ips)]), t + step * 3600)
    engine.drain(t + step * 3600 + 1)  # the service drains every flush interval
__import__('gc').collect()
grown = rss() - base
print(json.dumps({"workers": engine.tracked_workers, "rss_growth_bytes": grown,
                  "bytes_per_worker": round(grown / N),
                  "numpy_bytes_per_worker": engine.bytes_per_worker()}))
"""


def run(workers: int = 1_000_000) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(workers)], check=True, capture_output=True, text=True
    )
    result: dict[str, float] = json.loads(out.stdout)
    return result
