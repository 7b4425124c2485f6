"""The dashboard shows what the store holds, formatted as BTC.COM's pool did."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import msgspec
from fastapi.testclient import TestClient

from poolstats.api.app import create_app
from poolstats.clock import FakeClock
from poolstats.config import Settings
from poolstats.ingest.pipeline import Format
from poolstats.service import Service

T0 = 19675 * 86400.0


def test_dashboard_shows_the_pool_to_anyone_and_workers_to_their_key(tmp_path: Path) -> None:
    clock = FakeClock(T0 + 900)
    service = Service(Settings(data_dir=tmp_path, ingest_token="t"), clock=clock)
    service.recover()
    key = service.store.create_user("alice", int(T0)).access_key
    bob_key = service.store.create_user("bob", int(T0)).access_key
    # at 2**40, 90 shares of 2**20 are 90 / 2**20 of a block: x 306,250,000 = 26,285.6 sat
    service.store.record_network(int(T0), str(2**40), 840_000, 0, "cli", int(T0))
    service.refresh_network()
    # 90 shares of difficulty 2**20 at T0+5, T0+15, ..., T0+895; at T0+900 the 15m window
    # (T0, T0+900] holds all 90: one every 10 s, 2**20 * 2**32 / 10 H/s = 450.4 TH/s
    body = b"".join(
        msgspec.json.encode(
            {
                "ts": T0 + 5 + 10 * i,
                "user": "alice",
                "worker": "rig<1>",
                "diff": 2**20,
                "accepted": True,
                "ip": "192.0.2.1",
            }
        )
        + b"\n"
        for i in range(90)
    )
    assert service.ingestor.ingest(body, Format.NDJSON).accepted == 90
    service.flush()
    expected_15m = 90 * 2**20 * 2**32 / 900 / 1e12
    with TestClient(create_app(service, run_timers=False)) as client:
        page = client.get("/").text
        assert f"{expected_15m:.1f} TH/s" in page  # the pool card
        assert "alice" not in page and "rig1" not in page  # no key, no sub-accounts
        assert 'name="access_key"' in page
        mine = client.get("/", params={"access_key": key}).text
        assert ">alice</a>" in mine and f"{expected_15m:.1f} TH/s</td>" in mine
        assert "rig1" in mine  # the name as normalised, and escaped nowhere needed
        assert '<td class="ACTIVE">ACTIVE</td>' in mine
        assert "192.0.2.1" in mine
        assert "today (estimate)<b>0.00026285 BTC</b>" in mine
        assert "unpaid<b>0.00000000 BTC</b>" in mine
        clock.advance(901)
        later = client.get("/", params={"access_key": key, "puid": 1}).text
        assert '<td class="INACTIVE">INACTIVE</td>' in later
        # another account's key sees its own sub-account only, and not alice's by puid
        theirs = client.get("/", params={"access_key": bob_key})
        assert theirs.status_code == 200 and "rig1" not in theirs.text
        assert ">bob</a>" in theirs.text and ">alice</a>" not in theirs.text
        refused = client.get("/", params={"access_key": bob_key, "puid": 1})
        assert refused.status_code == 403 and "rig1" not in refused.text
        assert client.get("/", params={"access_key": "nope"}).status_code == 403
        assert client.get("/?puid=0").status_code == 422


def test_figures_under_1_khs_read_in_h_per_second(tmp_path: Path) -> None:
    """A CPU miner's figures: one share of difficulty 2**-10 (4,194,304 hashes) at T0+5,
    seen at T0+900: the 1m window (T0+840, T0+900] has let it go; the 15m window (T0, T0+900]
    still holds it (it is 895 s old), as do 1h and 1d."""
    clock = FakeClock(T0 + 900)
    service = Service(Settings(data_dir=tmp_path, ingest_token="t"), clock=clock)
    service.recover()
    key = service.store.create_user("alice", int(T0)).access_key
    share = {"ts": T0 + 5, "user": "alice", "worker": "cpu1", "diff": 2**-10, "accepted": True}
    body = msgspec.json.encode(share) + b"\n"
    assert service.ingestor.ingest(body, Format.NDJSON).accepted == 1
    service.flush()
    per_day = 2**-10 * 2**32 / 86400  # 48.545... H/s
    with TestClient(create_app(service, run_timers=False)) as client:
        page = client.get("/", params={"access_key": key}).text
    assert "HH/s" not in page
    assert f"1d<b>{per_day:.2f} H/s</b>" in page  # the pool card
    assert "1m<b>0 H/s</b>" in page
    assert f"15m<b>{2**22 / 900 / 1e3:.3f} KH/s</b>" in page  # 4.660 KH/s
    assert f"1h<b>{2**22 / 3600 / 1e3:.3f} KH/s</b>" in page  # 1.165 KH/s
    assert page.count(f"<td>{per_day:.2f} H/s</td>") == 2  # the sub-account's, the worker's


def test_the_dashboards_store_reads_leave_the_event_loop_free(tmp_path: Path) -> None:
    """While the dashboard waits on the store, /healthz is still answered: its reads run in a
    worker thread. Here the worker list is held until /healthz has answered; had it been
    read on the event loop, /healthz could never answer and the hold would time out."""
    service = Service(Settings(data_dir=tmp_path, ingest_token="t"), clock=FakeClock(T0))
    service.recover()
    key = service.store.create_user("alice", int(T0)).access_key
    healthz_answered = threading.Event()
    real_top_workers = service.store.top_workers

    def held_top_workers(puid: int, limit: int = 50) -> list[dict[str, object]]:
        assert healthz_answered.wait(timeout=10), "/healthz was not answered meanwhile"
        return real_top_workers(puid, limit)

    service.store.top_workers = held_top_workers  # type: ignore[method-assign]
    with TestClient(create_app(service, run_timers=False)) as client, ThreadPoolExecutor(1) as pool:
        page = pool.submit(client.get, "/", params={"access_key": key})
        assert client.get("/healthz").status_code == 200
        healthz_answered.set()
        assert page.result(timeout=30).status_code == 200
