"""Content whose integration would hold the event loop is timed or merged in a worker
process first, and refused when it would cost more than its budget.

The shapes are bench/shadow_cost.py's (10k interleaved client ids: 6.4 s to read back
2.3 MB, where honest documents cost 17 ms per MiB), so the test and the figures agree.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sqlite3
from pathlib import Path
from types import ModuleType

import aiohttp
from json_ws import JsonWs
from raw_client import RawClient
from server_process import ServerProcess, create_session, read_session
from support.app_client import Client, ClientFactory
from support.waiting import wait_until

from crdt_server import protocol
from crdt_server.protocol import MessageType
from rest.keys import LIVE


def _shapes() -> ModuleType:
    path = Path(__file__).parents[2] / "bench/shadow_cost.py"
    spec = importlib.util.spec_from_file_location("shadow_cost", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SHAPES = _shapes()


def ws_url(base: str, sid: str, query: str = "") -> str:
    return base.replace("http", "ws") + f"/ws/sessions/{sid}{query}"


async def test_an_update_too_costly_to_integrate_is_refused_with_1009_and_not_applied(
    make_client: ClientFactory,
) -> None:
    api = await make_client()
    base = str(api.make_url("")).rstrip("/")
    response = await api.post("/api/v1/sessions", json={"code": "keep\n"})
    sid = str((await response.json())["data"]["id"])
    bystander = await RawClient.connect(api.session, ws_url(base, sid), autoping=False)
    await bystander.handshake()
    attacker = await RawClient.connect(api.session, ws_url(base, sid))
    await attacker.handshake()
    costly: bytes = SHAPES.interleaved_state(5000, 20)  # 1.1 MB, 1.3 s to integrate
    await attacker.ws.send_bytes(protocol.sync_update(costly))
    code, reason = await attacker.close_code(timeout=15)
    assert code == 1009 and "integrating" in reason
    assert await bystander.frames_before_pong() == []  # nothing was forwarded
    session = await (await api.get(f"/api/v1/sessions/{sid}")).json()
    assert session["data"]["code"] == "keep\n"


async def test_a_merge_into_a_costly_document_runs_off_the_loop_and_its_load_is_read_only(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    db = str(tmp_path / "s.db")
    async with ServerProcess(["--db", db]) as server:
        sid = await create_session(http, server, code="seed\n")
        builder = await RawClient.connect(http, ws_url(server.url, sid))
        await builder.handshake()
        # each update is small and cheap on its own; together they make a costly state
        for update in SHAPES.interleaved_rounds(9000, 20, per_update=4500):
            await builder.ws.send_bytes(protocol.sync_update(update))

        async def all_applied() -> RawClient | None:
            client = await RawClient.connect(http, ws_url(server.url, sid))
            await client.handshake()
            if len(client.doc.get_state()) > 9000 * 5:  # it holds every client id
                return client
            await client.ws.close()
            return None

        # each poll syncs a fresh client with the whole costly document: slow on a busy machine
        writer = await wait_until(all_applied, what="the builder's updates", timeout=60)
        json_client = await JsonWs.connect(http, ws_url(server.url, sid, "?protocol=json"))
        seen = (await json_client.expect("code_change"))["data"]["code"]
        await writer.edit(0, "Q")

        async def edited() -> bool:
            return bool((await read_session(http, server, sid))["code"].startswith("Q"))

        await wait_until(edited, what="the writer's edit")
        # made from the version it was sent: merged in a shadow document of that state
        await json_client.send("code_change", {"code": seen + "!"})
        # worked out in a worker process (off the loop): merged, or refused at its deadline

        async def answered() -> str | None:
            if any(event["type"] == "error" for event in json_client.events):
                error = await json_client.expect("error")
                assert error["data"]["code"] == "DOCUMENT_TOO_LARGE"
                return "refused"
            code = (await read_session(http, server, sid))["code"]
            return "merged" if code == "Q" + seen + "!" else None

        outcome = await wait_until(answered, what="the merge's outcome", timeout=30)
        if outcome == "refused":
            assert (await read_session(http, server, sid))["code"] == "Q" + seen
        assert await server.stop() == 0
    async with ServerProcess(["--db", db]) as server:
        for _ in range(2):  # not loaded, and no crash loop
            session = await read_session(http, server, sid)
            assert "too costly to load" in session["damaged"]
            reader = await RawClient.connect(http, ws_url(server.url, sid))
            assert (await reader.close_code(timeout=15))[0] == 4409
        assert await server.stop() == 0
    assert "Traceback" not in server.log
    with sqlite3.connect(db) as conn:  # kept as stored, for an operator
        query = "SELECT length(state) FROM doc_snapshots WHERE session_id = ?"
        assert conn.execute(query, (sid,)).fetchone()[0] > 9000 * 20


async def _fill_line(api: Client, base: str) -> list[asyncio.Task[RawClient]]:
    """Eight sockets of one address (127.0.0.1) each send an update that holds a worker to
    its deadline (1 s); returns their refusals (1009) once the first has come."""
    response = await api.post("/api/v1/sessions", json={"code": ""})
    sid = str((await response.json())["data"]["id"])
    hostile = [await RawClient.connect(api.session, ws_url(base, sid)) for _ in range(8)]
    for client in hostile:
        await client.handshake()

    async def refusal(client: RawClient) -> RawClient:
        code, reason = await client.close_code(timeout=60)
        assert code == 1009 and "integrating" in reason
        return client

    costly = protocol.sync_update(SHAPES.interleaved_state(5000, 20))  # 1.1 MB, 1.3 s
    for client in hostile:
        await client.ws.send_bytes(costly)
    refusals = [asyncio.create_task(refusal(client)) for client in hostile]
    await wait_until(lambda: any(task.done() for task in refusals), what="a refusal", timeout=30)
    return refusals


async def _drop(refusals: list[asyncio.Task[RawClient]]) -> None:
    """Stop waiting for the refusals still to come; each one seen was a 1009."""
    for task in refusals:
        if task.done():
            task.result()
        task.cancel()
    await asyncio.gather(*refusals, return_exceptions=True)


async def test_one_clients_costly_updates_wait_for_each_other_not_in_front_of_another_clients(
    make_client: ClientFactory,
) -> None:
    """Another address's large honest update is checked and forwarded while most of one
    address's eight costly updates still wait, not after all of them."""
    api = await make_client()
    base = str(api.make_url("")).rstrip("/")
    response = await api.post("/api/v1/sessions", json={"code": ""})
    sid = str((await response.json())["data"]["id"])
    refusals = await _fill_line(api, base)
    async with aiohttp.ClientSession(connector=_other_address()) as other:
        watcher = await RawClient.connect(other, ws_url(base, sid))
        await watcher.handshake()
        typist = await RawClient.connect(other, ws_url(base, sid))
        await typist.handshake()
        await typist.edit(0, "pasted\n" * 30_000)  # 210 KB: checked in a worker too
        while (message := await watcher.message(timeout=30)).type != MessageType.SYNC:
            pass
        refused_by_then = sum(task.done() for task in refusals)
        watcher.doc.apply_update(message.payload)
        assert str(watcher.text).startswith("pasted\n")
    assert refused_by_then <= 3, f"{refused_by_then} of the 8 costly updates went first"
    await _drop(refusals)


async def test_a_room_load_one_client_asked_for_does_not_wait_in_that_clients_line(
    make_client: ClientFactory,
) -> None:
    """The load of a large room is everyone's wait: it is the session's work, so another
    address joins while most of the first asker's costly updates still wait."""
    api = await make_client(room_grace_seconds=0)
    base = str(api.make_url("")).rstrip("/")
    response = await api.post("/api/v1/sessions", json={"code": "line\n" * 20_000})
    sid = str((await response.json())["data"]["id"])  # 100 KB: its load is timed in a worker
    rooms = api.app[LIVE].rooms
    await wait_until(lambda: sid not in rooms.rooms, what="the room unloaded")
    refusals = await _fill_line(api, base)
    asker = await RawClient.connect(api.session, ws_url(base, sid))
    await asker.ws.send_bytes(protocol.sync_step1(b"\x00"))  # it joins once the room is loaded
    started = (rooms._loads, rooms.rooms)  # loading, or loaded with the asker in it
    await wait_until(lambda: any(sid in place for place in started), what="the asker's load")
    async with aiohttp.ClientSession(connector=_other_address()) as other:
        joiner = await RawClient.connect(other, ws_url(base, sid))
        await joiner.handshake()  # answered once the room is loaded
        refused_by_then = sum(task.done() for task in refusals)
        assert str(joiner.text).startswith("line\n")
    assert refused_by_then <= 3, f"{refused_by_then} of the 8 costly updates went first"
    await asker.ws.close()
    await _drop(refusals)


def _other_address() -> aiohttp.TCPConnector:
    return aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))  # a second client address
