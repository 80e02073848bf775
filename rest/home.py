"""``GET /``: what this service is, and where its docs, demo and probes are.

A browser gets a short HTML page; a client asking for JSON gets the same links as JSON.
"""

from __future__ import annotations

from aiohttp import web

from .health import service_version

LINKS = {
    "docs": "/docs",
    "openapi": "/api/v1/openapi.json",
    "asyncapi": "/api/v1/asyncapi.json",
    "demo": "/demo/",
    "health": "/api/v1/health",
    "ready": "/readyz",
    "metrics": "/metrics",
}

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>CodeInterview collaboration server</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:3rem auto;padding:0 1rem}}
code{{background:#f3f3f3;padding:0 .2em}}</style></head>
<body><h1>CodeInterview collaboration server</h1>
<p>Live coding interviews: an interviewer and candidates edit one document at once (Yjs CRDTs over
WebSocket), every edit is kept across disconnects and restarts, and sessions are managed over a
REST API. Version {version}.</p>
<ul>
<li><a href="/docs">API documentation</a>: REST
(<a href="/api/v1/openapi.json">OpenAPI</a>) and the WebSocket at
<code>/ws/sessions/{{sessionId}}</code> (<a href="/api/v1/asyncapi.json">AsyncAPI</a>)</li>
<li><a href="/demo/">Demo editor</a>: create a session and open it in two tabs</li>
<li><a href="/readyz">Readiness</a> and <a href="/api/v1/health">health</a></li>
</ul></body></html>
"""


async def home(request: web.Request) -> web.StreamResponse:
    accept = request.headers.get("Accept", "")
    if "application/json" in accept and "text/html" not in accept:
        return web.json_response(
            {"service": "codeinterview-crdt", "version": service_version(), "links": LINKS}
        )
    return web.Response(text=_PAGE.format(version=service_version()), content_type="text/html")


def add_home_route(app: web.Application) -> None:
    app.router.add_get("/", home)
