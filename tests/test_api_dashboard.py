"""The dashboard's files as the API serves them: the page at / with a policy that keeps it on this origin,
its scripts and styles within 150 KB, nothing fetched from elsewhere, and no API path shadowed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from services.api.routes.dashboard import STATIC_DIR
from tests.service_helpers import AUTH_A, make_client

#: The budget for the dashboard's own JS and CSS (a chart library would count too).
ASSET_BUDGET_BYTES = 150 * 1024


@pytest.fixture
def client(redis_url: str, tmp_path: Path):
    with make_client(redis_url, tmp_path / "data") as c:
        yield c


def _assets() -> list[Path]:
    return sorted(p for p in STATIC_DIR.rglob("*") if p.suffix in (".js", ".css"))


def test_the_page_and_its_files_are_served_with_a_same_origin_policy(client) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self';" in policy and "connect-src 'self'" in policy
    for src in re.findall(r'(?:src|href)="([^"]+)"', page.text):
        assert src.startswith(("/", "#", "data:")), src
    for path in _assets():
        url = "/ui/" + path.relative_to(STATIC_DIR).as_posix()
        r = client.get(url)
        assert r.status_code == 200 and r.content == path.read_bytes(), url
        assert ("javascript" if path.suffix == ".js" else "css") in r.headers["content-type"]


def test_the_scripts_and_styles_stay_within_budget_and_on_this_origin() -> None:
    sizes = {p.relative_to(STATIC_DIR).as_posix(): p.stat().st_size for p in _assets()}
    total = sum(sizes.values())
    print(f"\ndashboard JS + CSS: {total} bytes in {len(sizes)} files: {sizes}")
    assert 0 < total <= ASSET_BUDGET_BYTES
    for path in [*_assets(), STATIC_DIR / "index.html"]:
        text = path.read_text()
        # URLs outside the service: only the SVG namespace, which is a name and never fetched
        assert set(re.findall(r"https?://[^\s\"'`)]+", text)) <= {"http://www.w3.org/2000/svg"}, path


def test_the_page_shadows_no_api_path(client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/" not in paths and not [p for p in paths if p.startswith(("/ui", "/docs-assets"))]
    # API paths answer as the API, not with the page: JSON, and 404 for what does not exist
    assert client.get("/v1/jobs").json() == {
        "detail": "missing Authorization header; send 'Authorization: Bearer <key>'"
    }
    assert client.get("/v1/jobs", headers=AUTH_A).json()["items"] == []
    missing = client.get("/v1/not-a-thing")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/json"
    assert client.get("/jobs").status_code == 404  # the page routes by fragment (/#/jobs), not by path
    assert client.get("/healthz").json() == {"status": "ok"}


def test_the_docs_pages_load_their_assets_from_the_service(client) -> None:
    for url in ("/docs", "/redoc"):
        page = client.get(url)
        assert page.status_code == 200 and "img-src 'self' data: blob:" in page.headers["content-security-policy"]
        refs = re.findall(r'(?:src|href)="([^"]+)"', page.text) + re.findall(r"url: '([^']+)'", page.text)
        assert refs and all(ref.startswith("/") for ref in refs), refs
        for ref in refs:
            assert client.get(ref).status_code == 200, ref
    assert '"validatorUrl": null' in client.get("/docs").text
