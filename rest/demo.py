"""The example editor page at ``/demo/``: the files ``examples/monaco/build.sh`` writes into
``rest/static/demo/`` (shipped as package data, so serving it needs no Node).

``/demo`` redirects to ``/demo/`` (keeping the query, e.g. ``?session=ID``), ``/demo/`` is the page,
``/demo/playback/`` the player (the same bundle in its playback mode), ``/demo/<file>`` their
assets; anything else under ``/demo/`` is the usual JSON 404 envelope.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import hdrs, web

DEMO_DIR = Path(__file__).resolve().parent / "static" / "demo"
INDEX = "index.html"
PLAYER = "playback.html"

_ASSET = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$")
_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ttf": "font/ttf",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
}
_COMPRESSIBLE = {".html", ".js", ".mjs", ".css", ".json", ".map", ".txt", ".svg", ".ttf"}


def _file(root: Path, name: str) -> Path:
    """The asset ``name`` inside ``root``; 404 for anything else (no dot segments, no escapes)."""
    if _ASSET.match(name):
        path = (root / name).resolve()
        if path.is_relative_to(root) and path.is_file():
            return path
    raise web.HTTPNotFound()


def _serve(request: web.Request, path: Path) -> web.FileResponse:
    # No hashed names: let browsers cache, but revalidate (ETag / Last-Modified) every time.
    headers = {hdrs.CACHE_CONTROL: "no-cache", "X-Content-Type-Options": "nosniff"}
    content_type = _CONTENT_TYPES.get(path.suffix)
    if content_type is not None:
        headers[hdrs.CONTENT_TYPE] = content_type
    response = web.FileResponse(path, headers=headers)
    gzip_ok = "gzip" in request.headers.get(hdrs.ACCEPT_ENCODING, "")
    # not for HEAD: aiohttp (3.14) would write the empty compressed stream as a body
    whole_get = request.method == hdrs.METH_GET and hdrs.RANGE not in request.headers
    if path.suffix in _COMPRESSIBLE and gzip_ok and whole_get:
        response.enable_compression()  # the editor bundle is ~2.8 MB, ~0.7 MB gzipped
    return response


def add_demo_routes(app: web.Application, root: Path = DEMO_DIR) -> None:
    """Serve the built demo page from ``root`` at ``/demo/``."""
    root = root.resolve()

    def redirect(to: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            query = request.query_string
            location = to + (f"?{query}" if query else "")
            return web.Response(status=302, headers={hdrs.LOCATION: location})

        return handler

    async def index(request: web.Request) -> web.StreamResponse:
        return _serve(request, _file(root, INDEX))

    async def player(request: web.Request) -> web.StreamResponse:
        return _serve(request, _file(root, PLAYER))

    async def asset(request: web.Request) -> web.StreamResponse:
        return _serve(request, _file(root, request.match_info["name"]))

    app.router.add_get("/demo", redirect("/demo/"))
    app.router.add_get("/demo/", index)
    app.router.add_get("/demo/playback", redirect("/demo/playback/"))
    app.router.add_get("/demo/playback/", player)
    app.router.add_get("/demo/{name:.+}", asset)
