"""The dashboard in a real browser: Debian's Chromium driven by Playwright, against a node
served by uvicorn on loopback. What a page shows is compared with what the public API answers
for the same question (the dashboard is a client of that API); every page is checked for
console errors, failed requests and requests leaving 127.0.0.1, and photographed in both
languages at desktop and phone widths (``SCREENSHOTS``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.api.conftest import Node
from tests.api.golden import NOW, load
from tests.nodes import NodeServer
from tests.services import require_chromium

SCREENSHOTS = Path(os.environ.get("POOLSTATS_SCREENSHOTS", "build/screenshots"))
UNIT = {"": 1, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}
FARM = 120  # workers of alice's farm, besides the golden rigs: three pages of 50
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def farm_shares() -> list[dict[str, Any]]:
    """farm-000 .. farm-119: worker i sends one share of (i + 1) * 2^16 (i % 24) hours and
    100 s before now: those of hour 0 are active, the others inactive; each hour of the last
    day holds five of them, so the hourly charts have 24 points."""
    return [
        {"ts": NOW - (i % 24) * 3600 - 100, "puid": 1, "worker": f"farm-{i:03d}",
         "diff": (i + 1) * 2**16, "accepted": True, "ip": f"198.51.100.{i}"}
        for i in range(FARM)
    ]  # fmt: skip


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    path = require_chromium()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield browser
        browser.close()


@dataclass
class Site:
    node: Node
    url: str
    browser: Browser
    pages: list[tuple[Page, list[str], list[str]]]

    def open(
        self, path: str, *, lang: str = "en-US", viewport: dict[str, int] = DESKTOP,
        scheme: str = "light",
    ) -> Page:  # fmt: skip
        """A new tab (its own storage) at ``path``; its console errors, failed requests and
        every URL it asks for are kept for the checks after the test."""
        context = self.browser.new_context(
            viewport=viewport, locale=lang, timezone_id="UTC", color_scheme=scheme,  # type: ignore[arg-type]
        )  # fmt: skip
        page = context.new_page()
        errors: list[str] = []
        urls: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("requestfailed", lambda r: errors.append(f"failed: {r.url}"))
        page.on("request", lambda r: urls.append(r.url))
        self.pages.append((page, errors, urls))
        page.goto(self.url + path)
        return page

    def sign_in(self, page: Page, key: str | None = None) -> None:
        """Through the key form (alice's key unless ``key``), as far as the overview."""
        page.fill("input[name=access_key]", key or self.node.key["alice"])
        page.click("form.signin button")
        page.wait_for_selector("#sub-cards [data-figure=sub-15m]")


@contextlib.contextmanager
def served(node: Node, browser: Browser) -> Iterator[Site]:
    """``node`` on loopback; afterwards, every tab opened is checked: no console error or
    failed request, nothing asked of another host, the key in no URL."""
    server = NodeServer(node).start()
    made = Site(node, server.url, browser, [])
    try:
        yield made
    finally:
        for page, errors, urls in made.pages:
            page.context.close()
            assert errors == [], errors
            assert [u for u in urls if not u.startswith(server.url + "/")] == []
            assert not [u for u in urls if node.key["alice"] in u]  # never in a URL
        server.stop()


@pytest.fixture
def site(node: Node, chromium: Browser) -> Iterator[Site]:
    load(node)
    node.ingest(*farm_shares())
    node.service.flush()
    with served(node, chromium) as made:
        yield made


def points(page: Page, chart: str, series: int = 0) -> list[tuple[int, float]]:
    selector = f'[data-chart="{chart}"] circle.s{series}'
    page.wait_for_selector(selector)
    found = page.eval_on_selector_all(
        selector, "cs => cs.map(c => [Number(c.dataset.t), Number(c.dataset.v)])"
    )
    return [(int(t), float(v)) for t, v in found]


def api_points(answer: dict[str, Any], unit_field: str = "shares_unit") -> list[tuple[int, float]]:
    factor = UNIT[answer[unit_field]]
    return [(int(t), float(v) * factor) for t, v, _ in answer["tickers"] if v is not None]


def test_the_pool_chart_shows_the_apis_history_and_a_point_on_hover(site: Site) -> None:
    page = site.open("/#/pool")
    shown = points(page, "/v1/pool/share-history")
    answer = site.node.data(
        "/v1/pool/share-history", dimension="1h", start_ts=-86400, count=25, real_point=1
    )
    expected = api_points(answer, "unit")
    assert len(expected) == 25  # the farm's 24 hours, and rig3's share 87,000 s ago
    assert shown == expected
    page.hover('[data-chart="/v1/pool/share-history"] circle.s0 >> nth=3')
    tip = page.inner_text('[data-chart="/v1/pool/share-history"] .tip')
    value = expected[3][1]
    exponent = min(int(len(f"{value:.0f}") - 1) // 3, 6)
    assert f"{value / 1000**exponent:.4g} {' KMGTPE'[exponent].strip()}H/s" in tip
    # every range asks for what its buttons say, and shows it
    ranges = {"1h": ("5m", 3600, 300), "30d": ("1d", 30 * 86400, 86400)}
    for name, (dimension, seconds, period) in ranges.items():
        page.click(f'button[data-range="{name}"]')
        page.wait_for_selector(f'[data-chart="/v1/pool/share-history"][data-range="{name}"]')
        count = seconds // period + 1
        answer = site.node.data(
            "/v1/pool/share-history", dimension=dimension, start_ts=-seconds, count=count,
            real_point=1,
        )  # fmt: skip
        assert points(page, "/v1/pool/share-history") == api_points(answer, "unit"), name


def test_signing_in_shows_the_subaccounts_figures_and_chart(site: Site) -> None:
    page = site.open("/#/overview")
    site.sign_in(page)
    stats = site.node.data("/v1/worker/full-stats")
    for status in ("active", "inactive", "dead"):
        shown = page.inner_text(f"[data-figure=count-{status}] b")
        assert shown == f"{stats[f'workers_{status}']:,}"
    assert page.inner_text("[data-figure=count-all] b") == f"{stats['workers_total']:,}"
    answer = site.node.data(
        "/v1/worker/share-history", dimension="1h", start_ts=-86400, count=25, real_point=1
    )
    assert points(page, "/v1/worker/share-history") == api_points(answer)
    assert page.inner_text("[data-figure=unpaid] b").endswith(" BTC")
    # a reload keeps the session (this tab's storage), not the URL
    page.reload()
    page.wait_for_selector("#sub-cards [data-figure=sub-15m]")
    assert "access_key" not in page.url


def rows(page: Page) -> list[str]:
    return page.eval_on_selector_all("#worker-table tr[data-worker] td.left",
                                     "tds => tds.map(td => td.textContent)")  # fmt: skip


def names(node: Node, **params: Any) -> list[str]:
    answer = node.data("/v1/worker", page_size=50, **params)
    return [w["worker_name"] for w in answer["data"]]


def test_workers_sort_filter_and_page_as_the_api_does(site: Site) -> None:
    page = site.open("/#/overview")
    site.sign_in(page)
    page.click("nav a[href='#/workers']")
    page.wait_for_selector("#worker-table tr[data-worker]")
    node = site.node
    assert rows(page) == names(node, order_by="shares_15m", asc=0)
    assert page.inner_text("#page-of") == "Page 1 of 3"

    def after(action: Any, **params: Any) -> None:
        expected = names(node, **params)
        action()
        page.wait_for_function(
            "want => JSON.stringify([...document.querySelectorAll("
            "'#worker-table tr[data-worker] td.left')].map(td => td.textContent))"
            " === JSON.stringify(want)",
            arg=expected,
        )

    after(lambda: page.click("button[data-sort=worker_name]"), order_by="worker_name", asc=1)
    after(lambda: page.click("button[data-page=next]"), order_by="worker_name", asc=1, page=2)
    after(lambda: page.click("button[data-sort=worker_name]"), order_by="worker_name", asc=0)
    after(lambda: page.click("button[data-status=inactive]"), order_by="worker_name", asc=0,
          status="inactive")  # fmt: skip
    after(lambda: page.fill("input[type=search]", "farm-01"), order_by="worker_name", asc=0,
          status="inactive", filter="farm-01")  # fmt: skip
    tabs = page.inner_text("button[data-status=dead]")
    assert tabs.endswith(f"({node.data('/v1/worker/full-stats')['workers_dead']})")
    # a worker's page: its figures and its chart from its own endpoints
    page.click("#worker-table tr[data-worker] a >> nth=0")
    page.wait_for_selector("#worker-facts dt")
    shown = points(page, page.eval_on_selector("[data-chart]", "c => c.dataset.chart"))
    worker_id = page.url.rsplit("/", 1)[1]
    answer = node.data(f"/v1/worker/{worker_id}/share-history", dimension="1h",
                       start_ts=-86400, count=25, real_point=1)  # fmt: skip
    assert shown == api_points(answer)


def test_a_watcher_link_reads_one_subaccount_and_is_marked_read_only(site: Site) -> None:
    made = site.node.api("POST", "/v1/account/watcher/create", note="friend")
    token = made["data"]["watcher_key"]
    page = site.open(f"/#/watch/{token}")
    page.wait_for_selector("#sub-cards [data-figure=sub-15m]")
    assert page.url.endswith("#/overview")  # the token leaves the address bar
    assert "read-only" in page.inner_text("nav")
    assert page.query_selector("#subaccounts select") is None


@pytest.mark.parametrize("lang", ["en-US", "zh-CN"])
@pytest.mark.parametrize("width", ["desktop", "phone"])
def test_every_page_fits_the_screen_in_both_languages(site: Site, lang: str, width: str) -> None:
    viewport = PHONE if width == "phone" else DESKTOP
    page = site.open("/#/pool", lang=lang, viewport=viewport)
    page.wait_for_selector("[data-chart] circle")
    assert page.evaluate("document.documentElement.lang") == ("zh-CN" if lang == "zh-CN" else "en")
    shots = SCREENSHOTS / f"{lang}-{width}"
    shots.mkdir(parents=True, exist_ok=True)
    wait = {
        "pool": "[data-chart] circle",
        "overview": "[data-chart] circle",
        "workers": "#worker-table tr[data-worker]",
        "worker": "#worker-facts dt",
        "groups": "#group-table tr[data-group]",
        "earnings": "#earn-table p, #earn-table table",
        "alerts": "#alert-form",
        "watchers": "#watcher-table table",
    }
    page.goto(site.url + "/#/signin")
    page.wait_for_selector("input[name=access_key]")
    page.screenshot(path=shots / "signin.png", full_page=True)
    site.sign_in(page)
    for name, ready in wait.items():
        if name == "worker":
            page.goto(site.url + "/#/workers")
            page.wait_for_selector(wait["workers"])
            page.click("#worker-table tr[data-worker] a >> nth=0")
        else:
            page.goto(site.url + f"/#/{name}")
        page.wait_for_selector(ready)
        width_px = page.evaluate("document.documentElement.scrollWidth")
        assert width_px <= viewport["width"], (name, width_px)
        page.screenshot(path=shots / f"{name}.png", full_page=True)


def test_the_pool_page_of_an_api_replica_shows_who_counts_each_partition(
    chromium: Browser, tmp_path: Path
) -> None:
    import socket
    import time
    from types import SimpleNamespace

    from poolstats.cluster.read_node import ReadNode
    from poolstats.config import Settings
    from poolstats.store import SqliteStore, leases

    with SqliteStore.open(tmp_path) as store:
        with store.write() as conn:
            assert leases.acquire(conn, "aggregate/1", "host-b:4242:ab12", time.time(), 60.0) == 1
        replica = ReadNode(Settings(partitions=2), store)
        server = NodeServer(SimpleNamespace(service=replica)).start()  # type: ignore[arg-type]
        try:
            page = chromium.new_page()
            page.goto(server.url + "/#/pool")
            page.wait_for_selector("#cluster tr[data-partition]")
            cells = page.eval_on_selector_all(
                "#cluster tr[data-partition]",
                "trs => trs.map(tr => [...tr.children].map(td => td.textContent))",
            )
            assert cells == [
                ["0", "none", "never", "stale"],
                ["1", "host-b:4242:ab12", "never", "stale"],
            ]
            served = page.inner_text("#cluster p")
            assert served == f"This page: API process {socket.gethostname()}:{os.getpid()}"
            page.close()
        finally:
            server.stop()


def sign_in_to(site: Site, path: str, key: str | None = None) -> Page:
    page = site.open("/#/signin")
    site.sign_in(page, key)
    page.goto(site.url + path)
    return page


def test_selected_workers_move_to_a_group_and_deleted_ones_leave_the_list(site: Site) -> None:
    node = site.node
    assert node.api("POST", "/v1/groups/create", group_name="hall-A")["err_no"] == 0
    gid = next(g["gid"] for g in node.data("/v1/groups/simple") if g["name"] == "hall-A")
    page = sign_in_to(site, "/#/workers?order_by=worker_name&asc=1")
    page.wait_for_selector("#worker-table tr[data-worker]")
    first_two = names(node, order_by="worker_name", asc=1)[:2]
    for name in first_two:
        page.check(f"#worker-table input[aria-label='{name}']")
    assert page.inner_text("#selected") == "2 selected"
    page.select_option("select[data-target=group]", str(gid))
    page.click("button[data-action=move]")
    page.wait_for_function("() => document.querySelector('#selected').textContent === '0 selected'")
    assert sorted(names(node, group=gid)) == sorted(first_two)  # the API agrees
    # a whole page, deleted: gone from every list until those workers mine again
    page.check("input[data-select=page]")
    assert page.inner_text("#selected") == "50 selected"
    page.once("dialog", lambda dialog: dialog.accept())
    before = node.data("/v1/worker")["total_count"]
    page.click("button[data-action=delete]")
    page.wait_for_function("() => document.querySelector('#selected').textContent === '0 selected'")
    assert node.data("/v1/worker")["total_count"] == before - 50
    assert page.inner_text("#page-of") == "Page 1 of 2"


def test_the_csv_export_holds_every_worker_of_the_list(site: Site) -> None:
    import csv
    import io

    page = sign_in_to(site, "/#/workers?status=inactive")
    page.wait_for_selector("#worker-table tr[data-worker]")
    with page.expect_download() as made:
        page.click("button[data-action=export]")
    rows = list(csv.DictReader(io.StringIO(Path(made.value.path()).read_text())))
    listed = site.node.data("/v1/worker", status="inactive", order_by="shares_15m", page_size=1000)
    assert len(rows) == listed["total_count"] == len(listed["data"]) > 50  # past one page
    by_id = {w["worker_id"]: w for w in listed["data"]}
    for row in rows:
        item = by_id[row["worker_id"]]
        assert (row["worker_name"], row["status"], row["last_share_ip"]) == (
            item["worker_name"], "INACTIVE", item["last_share_ip"],
        )  # fmt: skip
        assert row["shares_1d_pure"] == str(item["shares_1d_pure"])


def test_groups_are_made_renamed_and_deleted_from_their_page(site: Site) -> None:
    node = site.node
    page = sign_in_to(site, "/#/groups")
    page.wait_for_selector("#group-table tr[data-group]")
    page.fill("#group-create input[name=group_name]", "hall-B")
    page.click("#group-create button")
    page.wait_for_selector("#group-table tr[data-group]:has-text('hall-B')")
    gid = next(g["gid"] for g in node.data("/v1/groups/simple") if g["name"] == "hall-B")
    page.fill(f"input[data-rename='{gid}']", "hall-C")
    page.click(f"tr[data-group='{gid}'] button[data-action=rename]")
    page.wait_for_selector(f"tr[data-group='{gid}'] a:has-text('hall-C')")
    assert [g["name"] for g in node.data("/v1/groups/simple")] == ["DEFAULT", "hall-C"]
    page.fill("#group-create input[name=group_name]", "hall-C")
    page.click("#group-create button")  # a name in use: the API's message, naming the field
    page.wait_for_selector("#group-error:not(:empty)")
    assert page.inner_text("#group-error").startswith("group_name")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click(f"tr[data-group='{gid}'] button[data-action=delete-group]")
    page.wait_for_selector(f"tr[data-group='{gid}']", state="detached")
    assert [g["name"] for g in node.data("/v1/groups/simple")] == ["DEFAULT"]
    default = node.data("/v1/worker/groups")["list"][0]
    shown = page.eval_on_selector_all(
        "tr[data-group='-1'] td", "tds => tds.map(td => td.textContent)"
    )
    assert shown[3:7] == [
        str(default[f"workers_{s}"]) for s in ("active", "inactive", "dead", "total")
    ]


def test_the_earnings_page_shows_each_settled_day(make_node: Any, chromium: Browser) -> None:
    from poolstats.store import ledger
    from tests.api.test_btccom_earnings import ADDRESS, TXID, mine

    node = make_node(explorer_tx_url="https://explorer.example/tx/{txid}")
    mine(node)
    assert node.service.settle_due() is not None
    store = node.service.store
    store.update_subaccount_profile(1, {"address": ADDRESS}, int(node.clock.now()))
    batch = ledger.create_batch(store, int(node.clock.now())).batch
    assert batch is not None
    ledger.confirm_batch(store, batch.id, TXID, int(node.clock.now()) + 100)
    with served(node, chromium) as site:
        page = sign_in_to(site, "/#/earnings")
        page.wait_for_selector("#earn-table tr[data-date]")
        history = node.data("/v1/account/earn-history")["list"]
        shown = page.eval_on_selector_all(
            "#earn-table tr[data-date]",
            "trs => trs.map(tr => [tr.dataset.date, tr.children[2].textContent])",
        )
        assert shown == [[str(d["date"]), f"{d['earnings'] / 1e8:.8f} BTC"] for d in history]
        assert page.inner_text("[data-figure=yesterday] b") == "3.06250000 BTC"
        assert page.inner_text("[data-figure=paid] b") == "3.06250000 BTC"
        link = page.get_attribute("#earn-table td.tx a", "href")
        assert link == f"https://explorer.example/tx/{TXID}"  # the operator's explorer
        assert page.inner_text("[data-figure=pay-limit] b") == "0.00500000 BTC"  # the default
        page.fill("#pay-limit input[name=amount]", "0.0001")  # below BTC.COM's 0.001
        page.click("#pay-limit button")
        page.wait_for_selector("#pay-limit .error")
        assert page.inner_text("#pay-limit .error").startswith("amount")
        page.fill("#pay-limit input[name=amount]", "0.02")
        page.click("#pay-limit button")
        page.wait_for_selector("#pay-limit [data-message]:has-text('Saved.')")
        assert node.service.store.subaccount_profile(1)["min_payout_sat"] == 2_000_000
        page.wait_for_selector("[data-figure=pay-limit] b:has-text('0.02000000 BTC')")


def test_a_watcher_link_made_on_its_page_opens_read_only_until_revoked(site: Site) -> None:
    owner = sign_in_to(site, "/#/watchers")
    owner.fill("#watcher-create input[name=note]", "friend")
    owner.click("#watcher-create button")
    owner.wait_for_selector("#watcher-made input")
    url = owner.input_value("#watcher-made input")
    assert url.startswith(site.url + "/#/watch/r_")
    watcher = site.open(url.removeprefix(site.url))
    watcher.wait_for_selector("#sub-cards [data-figure=sub-15m]")
    assert watcher.inner_text("#read-only") == "read-only"
    assert "Watcher links" not in watcher.inner_text("nav")  # the owner's business
    for path in ("/#/workers", "/#/groups", "/#/earnings", "/#/alerts"):
        watcher.goto(site.url + path)
        watcher.wait_for_selector("main h1")
        watcher.wait_for_load_state("networkidle")
        assert (
            watcher.query_selector("main form, main input[type=checkbox], main [data-action=move]")
            is None
        )
    owner.click("tr[data-watcher] button[data-action=revoke]")
    owner.wait_for_selector("tr[data-watcher]", state="detached")
    assert site.node.data("/v1/account/watcher/list") == []


def test_a_read_only_key_shows_no_control_that_writes(site: Site) -> None:
    key = site.node.service.store.create_key("alice", True, int(site.node.clock.now()))
    page = sign_in_to(site, "/#/workers", key)
    assert page.inner_text("#read-only") == "read-only"
    for path in ("/#/workers", "/#/groups", "/#/earnings", "/#/alerts", "/#/watchers"):
        page.goto(site.url + path)
        page.wait_for_selector("main h1")
        page.wait_for_load_state("networkidle")
        writes = page.query_selector_all(
            "main form, main input[type=checkbox], main [data-action]:not([data-action=export])"
        )
        assert writes == [], path


def test_alert_settings_and_contacts_are_edited_on_their_page(site: Site) -> None:
    node = site.node
    page = sign_in_to(site, "/#/alerts")
    page.wait_for_selector("#alert-form")
    page.check("#alert-form input[name=hashrate_enabled]")
    page.fill("#alert-form input[name=hashrate]", "10.5")
    page.select_option("#alert-form select[name=unit]", "P")
    page.check("#alert-form input[name=miners_enabled]")
    page.fill("#alert-form input[name=miners]", "5")
    page.fill("#alert-form input[name=interval]", "6")
    page.click("#alert-form button")
    page.wait_for_selector("[data-message=alert-settings]:has-text('Saved.')")
    alert = node.data("/v1/account/info")["alert"]
    assert (alert["hashrate_alert"], alert["hashrate_value"], alert["hashrate_unit"]) == (
        1,
        "10.5",
        "P",
    )
    assert (alert["miner_alert"], alert["miner_value"], alert["alert_interval"]) == (1, "5", 6)
    page.fill("#alert-form input[name=hashrate]", "ten")  # not a number: the API's message
    page.click("#alert-form button")
    page.wait_for_selector("[data-message=alert-settings].error")
    assert page.inner_text("[data-message=alert-settings]").startswith("hashrate")
    assert node.data("/v1/account/info")["alert"]["hashrate_value"] == "10.5"  # unchanged
    page.fill("#contact-create input[name=note]", "night shift")
    page.fill("#contact-create input[name=email]", "ops@example.org")
    page.click("#contact-create button")
    page.wait_for_selector("tr[data-contact]")
    made = node.data("/v1/alert/contacts/my")
    assert [(c["note"], c["email"]) for c in made] == [("night shift", "ops@example.org")]
    page.click("tr[data-contact] button[data-action=delete-contact]")
    page.wait_for_selector("tr[data-contact]", state="detached")
    assert node.data("/v1/alert/contacts/my") == []


def test_figures_refresh_on_their_own_and_leave_what_is_typed(
    make_node: Any, chromium: Browser
) -> None:
    node = make_node(flush_interval_s=2.0)  # the page refreshes every flush interval
    load(node)
    with served(node, chromium) as site:
        page = sign_in_to(site, "/#/groups")
        page.wait_for_selector("tr[data-group='-1']")
        page.fill("#group-create input[name=group_name]", "half-typ")
        total = "tr[data-group='-1'] td:nth-child(7)"
        before = int(page.inner_text(total))
        node.ingest(*(dict(w, worker="new-rig") for w in farm_shares()[:1]))
        node.service.flush()
        page.wait_for_function(
            f'n => Number(document.querySelector("{total}").textContent) === n', arg=before + 1
        )  # no reload, no click: the next refresh brought it
        assert page.input_value("#group-create input[name=group_name]") == "half-typ"
        assert page.evaluate("document.activeElement.name") == "group_name"


def test_a_dark_system_gets_a_dark_dashboard(site: Site) -> None:
    def background(page: Page) -> list[int]:
        color = page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
        return [int(v) for v in color[color.index("(") + 1 : -1].split(",")[:3]]

    light = site.open("/#/pool")
    dark = site.open("/#/pool", scheme="dark")
    for page in (light, dark):
        page.wait_for_selector("[data-chart] circle")
    assert sum(background(light)) > 3 * 200 and sum(background(dark)) < 3 * 60
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    dark.screenshot(path=SCREENSHOTS / "dark-pool.png", full_page=True)
