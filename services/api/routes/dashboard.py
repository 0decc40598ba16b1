"""The web dashboard: ``/`` serves one static page, ``/ui/`` its scripts and styles (no build step).

Everything the page loads comes from this package: the Content-Security-Policy forbids any other origin.
Views are picked by the URL fragment (``/#/jobs/...``), so the page claims no path but ``/`` and ``/ui/``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
#: Where the page's own files are served.
ASSETS_PATH = "/ui"

#: Nothing from another origin, no inline script or style: what the page needs is all in STATIC_DIR.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)

router = APIRouter(include_in_schema=False)


@router.get("/")
def dashboard() -> FileResponse:
    return FileResponse(
        STATIC_DIR / "index.html",
        media_type="text/html",
        headers={
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-cache",
        },
    )


def register(app: FastAPI) -> None:
    """Serve the page at ``/`` and its files under ASSETS_PATH."""
    app.include_router(router)
    app.mount(ASSETS_PATH, StaticFiles(directory=STATIC_DIR), name="dashboard-assets")
