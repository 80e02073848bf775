"""Nothing typed is lost: graceful restarts, kill -9, compaction, reconnecting clients (the
restarts and kills on each engine: SQLite, and PostgreSQL as a server the process outlives)."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pycrdt import Doc, Text
from server_process import ServerProcess, create_session, free_port, read_session
from support.app_client import ClientFactory
from support.node_client import NodeClient
from support.stored import committed_updates
from support.waiting import wait_until

from crdt_server.document import read_code
from rest.keys import LIVE, STORAGE

pytestmark = pytest.mark.node


def server(db: str, port: int) -> ServerProcess:
    return ServerProcess(["--db", db, "--port", str(port), "--room-grace-seconds", "0.5"])


async def committed_code(db: str, session_id: str) -> str:
    """The session's code as committed to the database, read beside the running server."""
    doc: Doc[Any] = Doc()
    for update in await committed_updates(db, session_id):
        doc.apply_update(update)
    return read_code(doc)


async def session_code(http: aiohttp.ClientSession, server: ServerProcess, sid: str) -> str:
    return str((await read_session(http, server, sid))["code"])


async def test_a_graceful_restart_keeps_the_text_and_reconnecting_clients_duplicate_nothing(
    database: str, http: aiohttp.ClientSession
) -> None:
    port, db = free_port(), database
    async with server(db, port) as first, NodeClient.start() as node:
        sid = await create_session(http, first, code="start\n")
        await node.connect(f"ws://127.0.0.1:{port}/ws/sessions", sid)
        await node.wait_synced()
        await node.insert(6, "typed before restart\n")
        await node.wait_text("start\ntyped before restart\n")
        mark = node.mark()
        assert await first.stop(signal.SIGTERM) == 0
        await node.wait_event("status", status="disconnected", since=mark)
        async with server(db, port) as second:
            assert await session_code(http, second, sid) == "start\ntyped before restart\n"
            await node.wait_event("status", status="connected", since=mark, timeout=15)
            await node.insert(0, "after\n")
            await node.wait_text("after\nstart\ntyped before restart\n")

            async def server_has_it() -> bool:
                return (
                    await session_code(http, second, sid) == "after\nstart\ntyped before restart\n"
                )

            await wait_until(server_has_it, timeout=10, what="the edit after restart")


async def test_after_kill_9_committed_edits_survive_and_clients_push_unsaved_ones_back(
    database: str, http: aiohttp.ClientSession
) -> None:
    port, db = free_port(), database
    async with NodeClient.start() as typist:
        async with server(db, port) as first:
            sid = await create_session(http, first)
            await typist.connect(f"ws://127.0.0.1:{port}/ws/sessions", sid)
            await typist.wait_synced()
            await typist.insert(0, "committed line\n")

            async def committed() -> bool:
                return await session_code(http, first, sid) == "committed line\n"

            await wait_until(committed, timeout=5, what="the first edit")

            async def in_the_database() -> bool:
                return await committed_code(db, sid) == "committed line\n"

            await wait_until(in_the_database, timeout=5, what="the first edit in the database")
            await typist.insert(15, "unsaved line\n")
            await first.stop(signal.SIGKILL)
        async with server(db, port) as second, NodeClient.start() as fresh:
            await fresh.connect(f"ws://127.0.0.1:{port}/ws/sessions", sid, client="fresh")
            await fresh.wait_synced(client="fresh")
            assert (await fresh.text(client="fresh")).startswith("committed line\n")
            expected = "committed line\nunsaved line\n"
            await fresh.wait_text(expected, timeout=20, client="fresh")
            await typist.wait_text(expected)

            async def server_has_all() -> bool:
                return await session_code(http, second, sid) == expected

            await wait_until(server_has_all, timeout=10, what="the pushed-back edit")
            assert await second.stop() == 0


async def test_a_kill_9_mid_typing_loses_nothing_that_a_client_still_holds(
    database: str, http: aiohttp.ClientSession
) -> None:
    port, db = free_port(), database
    async with NodeClient.start() as node:
        async with server(db, port) as first:
            sid = await create_session(http, first)
            for name in ("a", "b"):
                await node.connect(f"ws://127.0.0.1:{port}/ws/sessions", sid, client=name)
                await node.wait_synced(client=name)
            typing = [
                asyncio.create_task(node.random_edits(150, seed=i, max_delay_ms=4, client=n))
                for i, n in enumerate(("a", "b"))
            ]

            async def some_typed() -> bool:
                return len(await committed_code(db, sid)) >= 10

            await wait_until(some_typed, timeout=10, what="some of the typing in the database")
            assert not all(task.done() for task in typing), "the typing ended before the kill"
            await first.stop(signal.SIGKILL)
            await asyncio.gather(*typing)
        async with server(db, port) as second:

            async def converged() -> str | None:
                texts = {await node.text(client="a"), await node.text(client="b")}
                server_text = await session_code(http, second, sid)
                return server_text if texts == {server_text} else None

            await wait_until(converged, timeout=30, what="convergence after kill -9")


async def test_the_log_is_compacted_past_its_threshold_and_reloads_identically(
    make_client: ClientFactory,
) -> None:
    api: TestClient[web.Request, web.Application] = await make_client(compact_after_updates=50)
    response = await api.post("/api/v1/sessions", json={})
    sid = (await response.json())["data"]["id"]
    async with NodeClient.start() as node:
        await node.connect(str(api.make_url("/ws/sessions")).replace("http", "ws"), sid)
        await node.wait_synced()
        for i in range(300):
            await node.insert(0, chr(97 + i % 26))
        text = await node.text()

        async def server_has_it() -> bool:
            body = await (await api.get(f"/api/v1/sessions/{sid}")).json()
            return bool(body["data"]["code"] == text)

        await wait_until(server_has_it, timeout=10, what="all 300 edits")
        await api.app[LIVE].rooms.log.flush()
        stored = await api.app[STORAGE].load_document(sid)
        assert len(stored.updates) < 50 and stored.snapshot is not None
    reloaded = await api.app[LIVE].rooms.storage.load_document(sid)
    doc: Doc[Any] = Doc()
    for update in [reloaded.snapshot or b"", *reloaded.updates]:
        doc.apply_update(update)
    assert str(doc.get("code", type=Text)) == text
