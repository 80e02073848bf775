"""The built demo page is served at /demo/ from the package, with the API's error envelope."""

from __future__ import annotations

import gzip
import re
import tomllib
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from envelope import assert_error

from rest.demo import DEMO_DIR, add_demo_routes
from rest.errors import error_middleware

Client = TestClient[web.Request, web.Application]
REPO_ROOT = Path(__file__).resolve().parents[2]


async def test_demo_without_a_slash_redirects_to_the_page_keeping_the_query(api: Client) -> None:
    response = await api.get("/demo?session=abcd1234&name=Ada", allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"] == "/demo/?session=abcd1234&name=Ada"
    assert response.headers.get("X-Request-Id")


async def test_the_page_and_every_asset_it_names_are_served_with_their_types(api: Client) -> None:
    page = await api.get("/demo/")
    assert page.status == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    html = await page.text()
    assert '<div id="editor"' in html
    assets = re.findall(r'(?:href|src)="([a-z][\w.-]*\.(?:js|css))"', html)
    assert sorted(assets) == ["demo.css", "demo.js"]
    types = {
        "demo.js": "text/javascript",
        "demo.css": "text/css",
        "editor.worker.js": "text/javascript",
        "codicon.ttf": "font/ttf",
    }
    for name, content_type in types.items():
        response = await api.get(f"/demo/{name}", headers={"Accept-Encoding": "identity"})
        assert response.status == 200, name
        assert response.content_type == content_type, name
        assert await response.read() == (DEMO_DIR / name).read_bytes(), name


async def test_the_bundle_is_gzipped_for_clients_that_accept_it(api: Client) -> None:
    response = await api.get(
        "/demo/demo.js", headers={"Accept-Encoding": "gzip"}, auto_decompress=False
    )
    assert response.status == 200
    assert response.headers["Content-Encoding"] == "gzip"
    body = await response.read()
    assert len(body) < (DEMO_DIR / "demo.js").stat().st_size / 2
    assert gzip.decompress(body) == (DEMO_DIR / "demo.js").read_bytes()


@pytest.mark.parametrize(
    "path", ["/demo/missing.js", "/demo/.hidden", "/demo/..%2Fdemo.py", "/demo/a/../../demo.py"]
)
async def test_anything_else_under_demo_is_the_json_404(api: Client, path: str) -> None:
    await assert_error(await api.get(path), 404, "NOT_FOUND")


async def test_a_page_that_was_never_built_is_the_json_404(tmp_path: Path) -> None:
    app = web.Application(middlewares=[error_middleware])
    add_demo_routes(app, tmp_path)
    async with TestClient(TestServer(app)) as client:
        await assert_error(await client.get("/demo/"), 404, "NOT_FOUND")


def test_the_built_files_are_package_data_of_rest() -> None:
    setup = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = setup["package-data"]["rest"]
    rest = REPO_ROOT / "rest"
    shipped = {p for pattern in patterns for p in rest.glob(pattern) if p.is_file()}
    built = {p for p in DEMO_DIR.rglob("*") if p.is_file()}
    assert built and built <= shipped
    assert {"index.html", "demo.js", "demo.css", "editor.worker.js", "codicon.ttf"} <= {
        p.name for p in built
    }
