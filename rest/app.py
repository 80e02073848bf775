"""The application factory: one aiohttp app serving REST, WebSocket and docs on one port.

Start-up and clean-up run in dependency order through ``cleanup_ctx``:
storage first, then the update log and rooms (so rooms flush before the
database closes), then the expiry job.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

from aiohttp import web

from crdt_server.keys import PRESENCE
from crdt_server.presence import Presence
from crdt_server.rooms import RoomManager
from crdt_server.settings import Settings
from crdt_server.update_log import UpdateLog, now_ms
from crdt_server.ws import add_websocket_routes
from storage import SQLiteStorage, Storage, StorageError

from . import execute, health, history, participants, sessions
from .cors import CorsPolicy, cors_middleware
from .demo import add_demo_routes
from .errors import error_middleware
from .execution import ExecutionLimits, Executor
from .keys import (
    EXECUTOR,
    EXECUTOR_PROBE,
    ROOMS,
    SERVICES,
    SETTINGS,
    STARTED_AT,
    STORAGE,
    UPDATE_LOG,
)
from .openapi import add_docs_routes
from .routing import Operation, register
from .service import Services

log = logging.getLogger(__name__)

EXPIRED = (4410, "session expired")

OPERATIONS: list[Operation] = [
    *health.OPERATIONS,
    *sessions.OPERATIONS,
    *participants.OPERATIONS,
    *history.OPERATIONS,
    *execute.OPERATIONS,
]


async def storage_ctx(app: web.Application) -> AsyncIterator[None]:
    storage = app[STORAGE]
    await storage.open()
    yield
    await storage.close()


async def rooms_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    rooms: RoomManager | None = None
    update_log = UpdateLog(
        app[STORAGE],
        interval_s=settings.commit_interval_ms / 1000,
        compact_updates=settings.compact_after_updates,
        compact_bytes=settings.compact_after_bytes,
        snapshot_of=lambda sid: rooms.snapshot_of(sid) if rooms is not None else None,
    )
    rooms = RoomManager(
        app[STORAGE],
        update_log,
        grace_s=settings.room_grace_seconds,
        history_interval_s=settings.history_interval_seconds,
    )
    app[UPDATE_LOG] = update_log
    app[ROOMS] = rooms
    app[SERVICES] = Services(settings, app[STORAGE], rooms)
    app[PRESENCE] = Presence(app[STORAGE], rooms)
    await app[PRESENCE].reset()
    update_log.start()
    rooms.start()
    yield
    await rooms.close()
    await update_log.stop()


async def expire_once(app: web.Application) -> list[str]:
    """Delete every expired session with all it owns; close its sockets first."""
    storage, rooms = app[STORAGE], app[ROOMS]
    expired = await storage.expired_sessions(now_ms())
    for session_id in expired:
        await rooms.discard(session_id, *EXPIRED)
        await storage.delete_session(session_id)
    if expired:
        log.info("deleted %d expired sessions", len(expired))
    return expired


async def expiry_ctx(app: web.Application) -> AsyncIterator[None]:
    interval = app[SETTINGS].cleanup_interval_seconds

    async def loop() -> None:
        while True:
            try:
                await expire_once(app)
            except StorageError:
                log.exception("expiry job failed; retrying next interval")
            await asyncio.sleep(interval)

    task = asyncio.create_task(loop(), name="expiry")
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


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


async def executor_ctx(app: web.Application) -> AsyncIterator[None]:
    """Probe the sandbox in the background: start-up does not wait for it, runs do."""
    executor = app[EXECUTOR]
    app[EXECUTOR_PROBE] = probe = asyncio.create_task(executor.start(), name="sandbox-probe")
    yield
    await asyncio.gather(probe, return_exceptions=True)
    await executor.stop()


async def close_sockets(app: web.Application) -> None:
    """on_shutdown: close live sockets so the server does not wait on them."""
    if ROOMS in app:
        await app[ROOMS].close_peers()


def create_app(
    settings: Settings, storage: Storage | None = None, executor: Executor | None = None
) -> web.Application:
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[cors_middleware(CorsPolicy(settings.cors_origin_list())), error_middleware],
    )
    app[SETTINGS] = settings
    app[STORAGE] = storage or SQLiteStorage(settings.db_path)
    app[STARTED_AT] = time.monotonic()
    app[EXECUTOR] = executor or Executor(execution_limits(settings))
    app.cleanup_ctx.extend([storage_ctx, rooms_ctx, expiry_ctx, executor_ctx])
    app.on_shutdown.append(close_sockets)
    register(app, OPERATIONS)
    add_docs_routes(app, OPERATIONS)
    add_websocket_routes(app)
    add_demo_routes(app)
    return app
