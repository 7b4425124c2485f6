"""``/docs`` (Swagger UI) and ``/redoc`` with their scripts and styles served by this node.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so on a machine without internet
(a pool's private network, a laptop on a train) ``/docs`` is a blank page. The files come
from the installed ``fastapi-offline`` package (Swagger UI 5, which reads OpenAPI 3.1, and
ReDoc): nothing of theirs is copied into this repository, and only its folder of static files
is used, not its app wrapper.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC_PATH = "/docs-static"
DOCS_PATH = "/docs"
REDOC_PATH = "/redoc"
OAUTH2_REDIRECT_PATH = DOCS_PATH + "/oauth2-redirect"


def static_folder() -> Path:
    """The package's folder of swagger-ui-bundle.js, swagger-ui.css, redoc.standalone.js and
    favicon.png (a real folder: the package installs as files, not in a zip)."""
    return Path(str(files("fastapi_offline") / "static"))


def add_docs(app: FastAPI) -> None:
    """Mount the files and add the two pages; create the app with ``docs_url=None`` and
    ``redoc_url=None`` so FastAPI's CDN pages are not there too."""
    app.mount(STATIC_PATH, StaticFiles(directory=static_folder()), name="docs-static")

    def base(request: Request) -> str:  # behind a proxy that mounts the app under a prefix
        return str(request.scope.get("root_path", "")).rstrip("/")

    @app.get(DOCS_PATH, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = base(request)
        return get_swagger_ui_html(
            openapi_url=root + (app.openapi_url or "/openapi.json"),
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=root + OAUTH2_REDIRECT_PATH,
            swagger_js_url=f"{root}{STATIC_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{STATIC_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{STATIC_PATH}/favicon.png",
        )

    @app.get(OAUTH2_REDIRECT_PATH, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(REDOC_PATH, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = base(request)
        return get_redoc_html(
            openapi_url=root + (app.openapi_url or "/openapi.json"),
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{STATIC_PATH}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{STATIC_PATH}/favicon.png",
            with_google_fonts=False,
        )
