"""``poolstats stratum``'s own ``/metrics``: scraped over real HTTP from a process posting to
a real node, with the node up, down (the spool fills) and back (the spool drains)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from poolstats.config import Settings
from poolstats.metrics import Metrics
from poolstats.stratum.jobs import StaticTemplate
from poolstats.stratum.metrics import StratumMetrics
from poolstats.stratum.remote import stratum_process
from poolstats.stratum.spool import Spool
from tests.api.conftest import TOKEN, Node
from tests.nodes import NodeServer, free_port, wait_for
from tests.stratum.remote_harness import Running
from tests.stratum.test_remote import CONFIG, FAST, SHARES, authorized, counted, mine

DOCS = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(port: int) -> tuple[str, Samples]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    return text, samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def test_the_process_counts_connections_submits_its_spool_and_its_posts(
    node: Node, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    metrics_port = free_port()
    web = NodeServer(node)
    web.start()
    settings = Settings(
        data_dir=tmp_path,
        ingest_token=TOKEN,
        stratum_ingest_url=web.ingest_url,
        stratum_spool_dir=str(spool),
        stratum_port=free_port(),
        stratum_metrics_port=metrics_port,
    )
    template = StaticTemplate(height=900_000, payout_script=b"\x51")
    stratum = Running(stratum_process(settings, template, CONFIG, node.clock.now, FAST)).start()

    async def scenario() -> tuple[tuple[int, int], Samples, Samples, str]:
        miner = await authorized(stratum.port, "alice.rig1")
        web.stop()
        told = await mine(miner, "alice.rig1", SHARES)
        _, down = scrape(metrics_port)
        web.start()
        wait_for(lambda: counted(node, "rig1") == told, 30, "the node to count the spool")
        wait_for(lambda: not list(spool.glob("*.ndjson")), 10, "the spool to empty")
        await miner.close()
        wait_for(
            lambda: value(scrape(metrics_port)[1], "poolstats_stratum_connections") == 0,
            10,
            "the connection's end in the metrics",
        )
        text, back = scrape(metrics_port)
        return told, down, back, text

    told, down, back, text = asyncio.run(scenario())
    address = stratum.process.listener.server.server_address if stratum.process.listener else ()
    stratum.stop()
    web.stop()
    assert told == (SHARES, 1)
    assert address[0] == "127.0.0.1"  # the default: not open to the network
    # the node down: every submit (SHARES shares, 1 duplicate) is one batch in the spool
    batches = SHARES + 1
    assert value(down, "poolstats_stratum_connections") == 1
    assert value(down, "poolstats_stratum_submits_total", result="accepted") == SHARES
    assert value(down, "poolstats_stratum_submits_total", result="duplicate") == 1
    assert value(down, "poolstats_stratum_submit_seconds_count") == batches
    assert value(down, "poolstats_stratum_spool_batches") == batches
    # the events of a batch: about 120 bytes each, at least
    assert (value(down, "poolstats_stratum_spool_bytes") or 0) > batches * 100
    assert (value(down, "poolstats_stratum_post_seconds_count", verdict="retry") or 0) >= 1
    assert value(down, "poolstats_stratum_post_seconds_count", verdict="counted") is None
    # the node back: the spool drained, each batch counted by one POST
    assert value(back, "poolstats_stratum_spool_batches") == 0
    assert value(back, "poolstats_stratum_spool_bytes") == 0
    assert value(back, "poolstats_stratum_post_seconds_count", verdict="counted") == batches
    assert value(back, "poolstats_stratum_connections") == 0
    # a node's other metrics are not this process's
    assert "poolstats_flush_seconds" not in text and "poolstats_journal_seq" not in text


def test_spool_bytes_are_the_files_and_waiting_batches_leave_refused_ones_out(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path)
    paths = [spool.write(f"k{i}", b"x" * (10 + i)) for i in range(3)]  # 10, 11, 12 bytes
    spool.refuse(paths[0])
    spool.remove(paths[1])
    assert (spool.waiting, spool.size_bytes) == (1, 10 + 12)
    again = Spool(tmp_path)  # a restart counts what it finds
    assert (again.waiting, again.size_bytes) == (1, 10 + 12)
    metrics = StratumMetrics()
    metrics.watch(again)
    sample = metrics.registry.get_sample_value
    assert sample("poolstats_stratum_spool_batches") == 1
    assert sample("poolstats_stratum_spool_bytes") == 22


def test_the_stratum_server_metrics_are_a_nodes_own_and_the_rest_are_documented() -> None:
    own, node = StratumMetrics(), Metrics()
    for name in ("stratum_connections", "stratum_submits", "stratum_submit_seconds",
                 "stratum_bans"):  # fmt: skip
        assert getattr(own, name).describe() == getattr(node, name).describe()
    assert own.markdown() in DOCS.read_text(), "add StratumMetrics().markdown() to the docs"
