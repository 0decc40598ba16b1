"""/docs (Swagger UI) and /redoc (ReDoc) that work with no internet.

FastAPI's own pages load Swagger UI and ReDoc from a CDN (and a favicon and Google fonts from elsewhere):
offline they render blank. The assets here come from the ``fastapi-offline`` package (Swagger UI 5 and
ReDoc 2 bundles, MIT), served under ASSETS_PATH, and each page carries a Content-Security-Policy that keeps
the browser on this origin: ReDoc's sidebar logo (from its CDN) and Swagger UI's validator badge are blocked
before any request leaves, and Swagger UI is told not to use the validator at all.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
ASSETS_PATH = "/docs-assets"

#: The pages' own inline start-up script is their only script that is not a file from ASSETS_PATH.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def _page(request: Request, build: Callable[..., HTMLResponse], urls: dict[str, str], **options: Any) -> HTMLResponse:
    """FastAPI's page ``build``er, given ``urls`` (its keyword -> a path on this app) under the request's root
    path (the app may sit behind a proxy's prefix), with the headers that keep the browser on this origin."""
    root = request.scope.get("root_path", "")
    page = build(**{name: f"{root}{path}" for name, path in urls.items()}, **options)
    page.headers["Content-Security-Policy"] = DOCS_CSP
    page.headers["X-Content-Type-Options"] = "nosniff"
    return page


def register(app: FastAPI) -> None:
    """Serve /docs, its OAuth2 redirect page, /redoc and their assets (create the app with docs_url=None)."""
    assert app.openapi_url is not None
    openapi_url = app.openapi_url
    redirect_url = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"
    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS_DIR), name="docs-assets")
    swagger_urls = {
        "openapi_url": openapi_url,
        "oauth2_redirect_url": redirect_url,
        "swagger_js_url": f"{ASSETS_PATH}/swagger-ui-bundle.js",
        "swagger_css_url": f"{ASSETS_PATH}/swagger-ui.css",
        "swagger_favicon_url": f"{ASSETS_PATH}/favicon.png",
    }
    swagger_parameters = {**(app.swagger_ui_parameters or {}), "validatorUrl": None}
    redoc_urls = {
        "openapi_url": openapi_url,
        "redoc_js_url": f"{ASSETS_PATH}/redoc.standalone.js",
        "redoc_favicon_url": f"{ASSETS_PATH}/favicon.png",
    }

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        title = f"{app.title} - Swagger UI"
        return _page(request, get_swagger_ui_html, swagger_urls, title=title, swagger_ui_parameters=swagger_parameters)

    @app.get(redirect_url, include_in_schema=False)
    def swagger_ui_redirect(request: Request) -> HTMLResponse:
        return _page(request, get_swagger_ui_oauth2_redirect_html, {})

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        return _page(request, get_redoc_html, redoc_urls, title=f"{app.title} - ReDoc", with_google_fonts=False)
