"""Liveness and readiness: 200 while the database answers, 503 with the envelope when not."""

from __future__ import annotations

import time
from functools import cache
from importlib.metadata import PackageNotFoundError, version

from aiohttp import web

from crdt_server.clock import now_ms
from crdt_server.core.errors import Unavailable
from storage import StorageError

from .keys import STARTED_AT, STORAGE
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
    uptime = int((time.monotonic() - request.app[STARTED_AT]) * 1000)
    return respond(
        Health(
            status="ok",
            timestamp=now_ms(),
            version=service_version(),
            uptime_ms=uptime,
            database="ok",
        )
    )


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
