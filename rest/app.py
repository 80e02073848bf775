"""The application factory: one aiohttp app serving REST, WebSocket and docs on one port.

Start-up and clean-up run in dependency order through ``cleanup_ctx``: storage
first, then the live side (so rooms flush before the database closes).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from aiohttp import web

from crdt_server.live import Live
from crdt_server.one_at_a_time import OneAtATime
from crdt_server.origins import OriginPolicy
from crdt_server.settings import Settings
from crdt_server.ws import add_websocket_routes
from execution import ExecutionLimits, Executor
from storage import Storage, storage_for

from . import (
    execute,
    health,
    history,
    notes,
    participants,
    playback,
    questions,
    report,
    sessions,
)
from .asyncapi import add_asyncapi_route
from .cors import cors_middleware
from .demo import add_demo_routes
from .errors import error_middleware, quiet_bad_http
from .guard import guard_middleware, quiet_server_software, server_header
from .home import add_home_route
from .keys import LIVE, PDF_TURN, SETTINGS, STARTED_AT, STORAGE
from .metrics import add_metrics_route, metrics_middleware
from .openapi import add_docs_routes
from .request_log import context_middleware
from .routing import Operation, register

OPERATIONS: list[Operation] = [
    *health.OPERATIONS,
    *sessions.OPERATIONS,
    *participants.OPERATIONS,
    *history.OPERATIONS,
    *execute.OPERATIONS,
    *questions.OPERATIONS,
    *notes.OPERATIONS,
    *report.OPERATIONS,
    *playback.OPERATIONS,
]


async def storage_ctx(app: web.Application) -> AsyncIterator[None]:
    storage = app[STORAGE]
    await storage.open()
    yield
    await storage.close()


async def live_ctx(app: web.Application) -> AsyncIterator[None]:
    live = app[LIVE]
    await live.start()
    yield
    await live.stop()


async def close_sockets(app: web.Application) -> None:
    """on_shutdown: close live sockets so the server does not wait on them."""
    await app[LIVE].close_sockets()


def execution_limits(settings: Settings) -> ExecutionLimits:
    extra = {}
    if settings.execution_max_concurrent:
        extra["max_concurrent"] = settings.execution_max_concurrent
    return ExecutionLimits(
        max_queue=settings.execution_max_queue,
        default_timeout_ms=settings.execution_default_timeout_ms,
        max_timeout_ms=settings.execution_max_timeout_ms,
        memory_mb=settings.execution_memory_mb,
        max_output_bytes=settings.execution_max_output_bytes,
        allow_unsandboxed=settings.execution_allow_unsandboxed,
        **extra,
    )


def create_app(
    settings: Settings, storage: Storage | None = None, executor: Executor | None = None
) -> web.Application:
    quiet_bad_http()
    quiet_server_software()
    origins = OriginPolicy(settings.origin_list())
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        handler_args={"auto_decompress": False},  # bodies are decoded by rest/encodings.py
        middlewares=[
            context_middleware,
            metrics_middleware,
            cors_middleware(origins),
            error_middleware,
            guard_middleware(settings.allowed_host_list(), origins, settings.requests_per_second),
        ],
    )
    app.on_response_prepare.append(server_header)
    app[SETTINGS] = settings
    app[STORAGE] = storage = storage or storage_for(settings.db_path)
    app[STARTED_AT] = time.monotonic()
    app[PDF_TURN] = OneAtATime(
        report.PDF_LINE, "too many reports are being built; try again shortly"
    )
    executor = executor or Executor(
        execution_limits(settings), esbuild_path=settings.execution_esbuild_path
    )
    app[LIVE] = Live(settings, storage, executor)
    app.cleanup_ctx.extend([storage_ctx, live_ctx])
    app.on_shutdown.append(close_sockets)
    register(app, OPERATIONS)
    add_docs_routes(app, OPERATIONS)
    add_asyncapi_route(app)
    add_websocket_routes(app)
    add_demo_routes(app)
    add_metrics_route(app)
    health.add_probe_routes(app)
    add_home_route(app)
    return app
