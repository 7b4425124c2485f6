"""The metrics of ``poolstats stratum``, a process apart from any node: its own registry and
its own ``/metrics`` listener.

Why it is built this way:
- The stratum server's metrics (connections, submits by result, answer latency, bans) are
  the node's own definitions (``poolstats.metrics.Metrics``), registered here too: the same
  names and meanings whether the server runs inside a node or apart, so one dashboard
  serves both. The rest of a node's metrics (flushes, the journal, the engine) would only
  be zeros here, so they are left out.
- Its delivery adds the spool's depth, read when Prometheus scrapes, and how long each
  attempt to hand a batch on takes (a POST to the node, a publish to the bus), by verdict.
- The listener is prometheus_client's own (a thread), bound to ``stratum_metrics_host``,
  127.0.0.1 unless set: the figures say who mines how much and are not for the internet.
"""

from __future__ import annotations

from dataclasses import dataclass
from threading import Thread
from typing import Protocol
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from poolstats.metrics import Metrics, markdown
from poolstats.stratum.spool import Spool


class ServerMetrics(Protocol):
    """What ``StratumServer`` counts: a node's ``Metrics`` or a ``StratumMetrics``."""

    stratum_connections: Gauge
    stratum_submits: Counter
    stratum_submit_seconds: Histogram
    stratum_bans: Counter


class StratumMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        node = Metrics()  # where the stratum server's metrics are defined, once
        self.stratum_connections = node.stratum_connections
        self.stratum_submits = node.stratum_submits
        self.stratum_submit_seconds = node.stratum_submit_seconds
        self.stratum_bans = node.stratum_bans
        for metric in (
            self.stratum_connections,
            self.stratum_submits,
            self.stratum_submit_seconds,
            self.stratum_bans,
        ):
            r.register(metric)
        self.spool_bytes = Gauge(
            "poolstats_stratum_spool_bytes",
            "Bytes in the stratum spool, batches waiting to be delivered and refused ones "
            "(stratum_spool_max_bytes bounds it); read at scrape time.",
            registry=r,
        )
        self.spool_batches = Gauge(
            "poolstats_stratum_spool_batches",
            "Batches in the stratum spool waiting to be delivered (refused ones not counted); "
            "read at scrape time.",
            registry=r,
        )
        self.post_seconds = Histogram(
            "poolstats_stratum_post_seconds",
            "Time of one attempt to deliver a batch of shares (a POST to the node's ingest "
            "URL, or a publish to the share bus), live or from the spool, by verdict: counted, "
            "retry, too_large, refused, hold.",
            ["verdict"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 30),
            registry=r,
        )

    def watch(self, spool: Spool) -> None:
        """Read the spool's depth at each scrape."""
        self.spool_bytes.set_function(lambda: spool.size_bytes)
        self.spool_batches.set_function(lambda: spool.waiting)

    def markdown(self) -> str:
        """The table of docs/metrics.md's section on ``poolstats stratum`` (a test keeps the
        two equal): the metrics it has besides the stratum server's."""
        own = [v for k, v in vars(self).items() if not k.startswith("stratum_")]
        return markdown(own, "`poolstats stratum` metric")


@dataclass
class MetricsListener:
    """The running ``/metrics`` HTTP listener (any path answers the same)."""

    server: WSGIServer
    thread: Thread

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def listen(metrics: StratumMetrics, host: str, port: int) -> MetricsListener:
    """Serve ``metrics`` on ``host:port`` (port 0: any free one); ``OSError`` if taken."""
    server, thread = start_http_server(port, host, metrics.registry)
    return MetricsListener(server, thread)
