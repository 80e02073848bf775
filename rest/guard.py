"""Cross-site and DNS-rebinding guards, before any handler runs.

A page on another site can make a browser send "simple" requests to this server, and a
rebinding DNS name can make it send them to a loopback server under a foreign Host. So:
the Host header must be one this server serves, and a state-changing request that a
browser sent from another origin (its ``Origin`` header says so) is refused, unless that
origin is allowed by the CORS settings. JSON bodies are required by :func:`read_body`
(415 otherwise), which a cross-site form or text/plain POST cannot send.

The guard is also where a request, REST or WebSocket, is first tied to its client: its
rate limit, and the line its costly CRDT work waits in (crdt_server/workers.py).
"""

from __future__ import annotations

import logging

from aiohttp import hdrs, web, web_response
from aiohttp.typedefs import Middleware

from crdt_server.core.errors import Forbidden, InvalidInput, RateLimited
from crdt_server.core.quota import Buckets
from crdt_server.origins import OriginPolicy
from crdt_server.workers import WORK_FOR
from crdt_server.ws import client_key

from .errors import Handler

log = logging.getLogger(__name__)

_SAFE_METHODS = {hdrs.METH_GET, hdrs.METH_HEAD, hdrs.METH_OPTIONS}


def host_name(host: str) -> str:
    """The name part of a Host header value: ``[::1]:8000`` -> ``[::1]``, ``a:1`` -> ``a``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def guard_middleware(
    allowed_hosts: list[str], origins: OriginPolicy, requests_per_second: float
) -> Middleware:
    any_host = "*" in allowed_hosts
    hosts = set(allowed_hosts)
    buckets = Buckets(requests_per_second)
    limited: set[str] = set()  # addresses limited now: each episode is logged once

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        client = client_key(request)
        wait = buckets.take(client)
        if wait is not None:
            if client not in limited and len(limited) < 10_000:
                limited.add(client)
                log.warning("rate limiting %s: more than %s requests/s", client, buckets.rate)
            raise RateLimited("too many requests; slow down", retryAfter=wait)
        limited.discard(client)
        WORK_FOR.set(client)  # this request's task and those it starts work for its client
        if not any_host and host_name(request.host or "") not in hosts:
            raise InvalidInput(f"host {host_name(request.host or '')!r} is not served here")
        origin = request.headers.get(hdrs.ORIGIN)
        if origin is not None and request.method not in _SAFE_METHODS:
            if not origins.allows(origin, request.host):
                raise Forbidden(f"requests from {origin[:100]} are not allowed")
        return await handler(request)

    return middleware


SERVER_NAME = "codeinterview"


async def server_header(_: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: name the service, not the aiohttp and Python versions."""
    response.headers[hdrs.SERVER] = SERVER_NAME


def quiet_server_software() -> None:
    """The answers aiohttp's protocol gives itself (a request that is not HTTP) skip
    on_response_prepare and take ``SERVER_SOFTWARE`` as their Server header: make that
    default ours too. aiohttp has no setting for it; the module global is what it reads."""
    setattr(web_response, "SERVER_SOFTWARE", SERVER_NAME)  # noqa: B010 (not exported)
