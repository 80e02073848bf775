"""``GET /metrics`` for Prometheus, and the REST request counts and latencies behind it.

A scrape shows how busy the server is and what it refuses, which is for its operators:
with ``--metrics-token`` it takes that bearer token, without one it answers loopback
clients only (a Prometheus on the same host, or behind a proxy that adds the token).
"""

from __future__ import annotations

import hmac
import ipaddress
import time

from aiohttp import web

from crdt_server.core.errors import Forbidden, Unauthorized
from crdt_server.metrics import CONTENT_TYPE
from crdt_server.ws import client_address

from .auth import bearer
from .errors import Handler
from .keys import LIVE, SETTINGS

METRICS_PATH = "/metrics"
#: Methods counted by name; any other (a client may send any token) is "other", so a
#: client cannot grow the label set.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count every answered request by its route template (never its path: a session id
    is not a label) and time it. WebSocket upgrades are counted as connections instead."""
    started = time.perf_counter()
    response = await handler(request)
    if isinstance(response, web.WebSocketResponse):
        return response
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    method = request.method if request.method in _METHODS else "other"
    metrics = request.app[LIVE].metrics
    metrics.http_requests.labels(route, method, str(response.status)).inc()
    metrics.http_seconds.labels(route, method).observe(time.perf_counter() - started)
    return response


def _loopback(remote: str | None) -> bool:
    try:
        return remote is not None and ipaddress.ip_address(remote).is_loopback
    except ValueError:
        return False


async def scrape(request: web.Request) -> web.StreamResponse:
    token = request.app[SETTINGS].metrics_token
    if token:
        given = bearer(request) or ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise Unauthorized("metrics take the metrics token (Authorization: Bearer)")
    elif not _loopback(client_address(request)):  # behind a proxy: the client's address
        raise Forbidden("metrics answer loopback clients only (or set --metrics-token)")
    body = request.app[LIVE].metrics.exposition()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


def add_metrics_route(app: web.Application) -> None:
    app.router.add_get(METRICS_PATH, scrape)
