"""Health: ``/api/v1/health`` (200 while the database answers, 503 with the envelope when
not), and the probes a process manager or a load balancer polls: ``/livez`` (the process
answers) and ``/readyz`` (it can serve: storage answers and it is not draining)."""

from __future__ import annotations

import time
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from typing import Literal

from aiohttp import web
from redis.exceptions import RedisError

from crdt_server.clock import now_ms
from crdt_server.core.errors import Draining, Unavailable
from crdt_server.relay import Relay
from storage import StorageError

from .keys import LIVE, STARTED_AT, STORAGE
from .models import Health, respond
from .routing import Operation


@cache  # read once: a health check must not open files (it is what runs when fds run out)
def service_version() -> str:
    try:
        return version("codeinterview-crdt")
    except PackageNotFoundError:
        return "0.0.0+source"


async def health(request: web.Request) -> web.StreamResponse:
    try:
        await request.app[STORAGE].ping()
    except StorageError as exc:
        raise Unavailable(f"database unavailable: {exc}") from None
    redis = await redis_state(request.app[LIVE].relay)
    uptime = int((time.monotonic() - request.app[STARTED_AT]) * 1000)
    return respond(
        Health(
            status="degraded" if redis == "unavailable" else "ok",
            timestamp=now_ms(),
            version=service_version(),
            uptime_ms=uptime,
            database="ok",
            redis=redis,
        )
    )


async def redis_state(relay: Relay | None) -> Literal["ok", "unavailable", "off"]:
    """Whether Redis answers and this process listens to it (off: no Redis configured)."""
    if relay is None:
        return "off"
    try:
        await relay.ping()
    except (RedisError, OSError):
        return "unavailable"
    return "ok" if relay.up else "unavailable"


async def livez(request: web.Request) -> web.StreamResponse:
    """The event loop answers; nothing else is asked (a restart would not fix storage)."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.StreamResponse:
    """Send this process traffic: 503 once it drains for shutdown, or storage is down."""
    if request.app[LIVE].draining:
        raise Draining("draining: the server is shutting down")
    try:
        await request.app[STORAGE].ping()
    except StorageError as exc:
        raise Unavailable(f"database unavailable: {exc}") from None
    redis = await redis_state(request.app[LIVE].relay)
    return web.json_response({"status": "ok", "database": "ok", "redis": redis})


def add_probe_routes(app: web.Application) -> None:
    app.router.add_get("/livez", livez)
    app.router.add_get("/readyz", readyz)


OPERATIONS = [
    Operation(
        "GET",
        "/health",
        health,
        "Liveness and readiness",
        "health",
        response=Health,
        errors=(Unavailable,),
    ),
]
