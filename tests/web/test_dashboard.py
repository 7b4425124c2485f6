"""The dashboard's files as the server hands them out: the shell, its policy, its weight, and
its two message catalogues. What the pages show is tested in a browser (test_browser.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from poolstats.config import Settings
from poolstats.domain.alerts import AlertKind, Event
from poolstats.service import Service
from poolstats.web.dashboard import STATIC
from tests.api.conftest import Node

MAX_PAGE_BYTES = 300_000  # the budget for one page load before caching
CATALOGUES = sorted((STATIC / "i18n").glob("*.json"))
# message families whose key the scripts build: the endings each must have
FAMILIES = {
    "nav.": {
        "pool",
        "overview",
        "workers",
        "groups",
        "earnings",
        "alerts",
        "watchers",
        "signin",
        "signout",
    },
    "status.": {"ACTIVE", "INACTIVE", "DEAD", "all"},
    "win.": {"1m", "5m", "15m", "1h", "1d"},
    "range.": {"1h", "24h", "7d", "30d"},
    "alert_type.": {k.value for k in AlertKind},
    "alert_event.": {e.value for e in Event},
    "block.": {"submitted", "accepted", "rejected"},  # store/blocks.py's statuses
}


def test_the_shell_has_a_viewport_and_a_policy_keeping_everything_on_this_host(node: Node) -> None:
    answer = node.client.get("/")
    assert answer.status_code == 200
    page = answer.text
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert '<script type="module" src="/static/app.js"></script>' in page
    policy = answer.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "connect-src 'self'" in policy
    assert answer.headers["referrer-policy"] == "no-referrer"
    script = node.client.get("/static/app.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert script.headers["content-security-policy"] == policy
    assert node.client.get("/static/nothing.js").status_code == 404


SVG_NAMESPACE = "http://www.w3.org/2000/svg"  # a name for createElementNS, never fetched


def test_no_file_names_another_host() -> None:
    for path in STATIC.rglob("*"):
        if path.is_file():
            text = path.read_text().replace(SVG_NAMESPACE, "")
            assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text), path


def test_a_page_load_is_within_its_weight() -> None:
    """Everything the shell can load, both catalogues included, is within one page's budget."""
    total = sum(p.stat().st_size for p in STATIC.rglob("*") if p.is_file())
    assert total <= MAX_PAGE_BYTES, total


def test_the_catalogues_translate_every_message_the_scripts_use() -> None:
    catalogues = {p.stem: json.loads(p.read_text()) for p in CATALOGUES}
    assert set(catalogues) == {"en", "zh-CN"}
    keys = [set(c) for c in catalogues.values()]
    assert keys[0] == keys[1]  # no message left untranslated either way
    for lang, messages in catalogues.items():
        assert all(m.strip() for m in messages.values()), lang
    en, zh = catalogues["en"], catalogues["zh-CN"]
    for key in en:  # the same {placeholders} in both languages
        assert set(re.findall(r"\{(\w+)\}", en[key])) == set(re.findall(r"\{(\w+)\}", zh[key])), key
    assert set(re.findall(r"\{(\w+)\}", en["workers.page"])) == {"page", "pages"}
    scripts = "".join(p.read_text() for p in STATIC.glob("*.js"))
    used = set(re.findall(r"""\bt\(["']([\w.]+)["']""", scripts))
    catalogue_prefixes = {k.split(".")[0] for k in keys[0]}
    prefixes = "|".join(sorted(catalogue_prefixes))
    used |= set(re.findall(rf"""["']((?:{prefixes})\.\w+)["']""", scripts))
    assert used and used <= keys[0], used - keys[0]
    for prefix, endings in FAMILIES.items():
        assert {prefix + e for e in endings} <= keys[0], prefix
    unused = {k for k in keys[0] if not k.startswith(tuple(FAMILIES)) and k not in used}
    assert unused == set(), "messages no script uses"


def test_static_files_are_package_data() -> None:
    """``make install`` of a wheel ships the dashboard: pyproject lists its folders."""
    pyproject = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    assert '"web/static/*", "web/static/i18n/*"' in pyproject


def test_dashboard_config_tells_the_refresh_and_the_explorer_link(make_node: Any) -> None:
    node = make_node(flush_interval_s=5.0, explorer_tx_url="https://mempool.space/tx/{txid}")
    config = node.data("/v1/pool/dashboard-config", user="")
    assert config == {"refresh_s": 5.0, "explorer_tx_url": "https://mempool.space/tx/{txid}"}


@pytest.mark.parametrize("url", ["mempool.space/tx/{txid}", "https://mempool.space/tx/"])
def test_an_explorer_link_that_cannot_work_stops_the_node(tmp_path: Path, url: str) -> None:
    settings = Settings(data_dir=tmp_path, ingest_token="t", explorer_tx_url=url)
    with pytest.raises(ValueError, match=r"^explorer_tx_url: an http"):
        Service(settings)
