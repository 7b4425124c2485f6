"""``/docs`` and ``/redoc`` work without internet: every file their pages load comes from
this server, and answers."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest

from tests.api.conftest import Node


class _Links(HTMLParser):
    """Every ``src`` and ``href`` of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


@pytest.mark.parametrize(
    ("page", "needed"),
    [
        ("/docs", {"swagger-ui-bundle.js", "swagger-ui.css"}),
        ("/redoc", {"redoc.standalone.js"}),
    ],
)
def test_api_docs_load_nothing_from_another_host(node: Node, page: str, needed: set[str]) -> None:
    response = node.client.get(page)
    assert response.status_code == 200
    links = _Links()
    links.feed(response.text)
    base = str(node.client.base_url) + page
    loaded = [urljoin(base, url) for url in links.urls]
    assert {urlsplit(u).path.rsplit("/", 1)[-1] for u in loaded} >= needed
    # No absolute URL anywhere in the page, scripts included (a CDN, a font service...).
    assert re.findall(r"(?:https?:)?//[\w.-]+", response.text) == []
    for url in loaded:
        assert urlsplit(url).netloc == urlsplit(base).netloc, url
        fetched = node.client.get(url)
        assert fetched.status_code == 200, url
        assert len(fetched.content) > 0
    # and the document the page reads
    document = node.client.get("/openapi.json")
    assert document.status_code == 200 and document.json()["info"]["title"] == "poolstats"


def test_the_swagger_ui_served_reads_openapi_3_1(node: Node) -> None:
    """FastAPI writes OpenAPI 3.1, which Swagger UI reads only from version 5 on: an older
    bundle would show "Unable to render this definition" instead of the API."""
    assert node.client.get("/openapi.json").json()["openapi"].startswith("3.1")
    script = node.client.get("/docs-static/swagger-ui-bundle.js").text
    versions = {int(v) for v in re.findall(r'"([0-9]+)\.[0-9]+\.[0-9]+"', script)}
    assert max(versions) >= 5
