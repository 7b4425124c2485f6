"""The miners' dashboard: static files (``web/static``) that call the public API in the browser.

Why a client of the API rather than pages rendered here: whatever the dashboard shows, a
script can get the same way, and an API replica serves both without state of its own. No
build step and no outside host: hand-written ES modules, SVG charts, two message catalogues.
The access key never enters a URL (it is sent in ``X-Access-Key``); the page's policy lets
it load nothing and call nothing but this server.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC = Path(__file__).parent / "static"
# Nothing from another host, nothing inline, no framing; no Referer leaves the page.
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",  # revalidated each load: a new release shows at once
}

router = APIRouter()


@router.get("/", summary="Dashboard", include_in_schema=False)
async def dashboard() -> FileResponse:
    """The page's shell; the figures come from the API (see the module docstring)."""
    return FileResponse(STATIC / "index.html", headers=HEADERS)


class Static(StaticFiles):
    """The dashboard's scripts, styles and catalogues, with the page's headers."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(HEADERS)
        return response


def static_files() -> Static:
    return Static(directory=STATIC)
