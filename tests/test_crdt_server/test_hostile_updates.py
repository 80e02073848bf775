"""Updates that break pycrdt never reach it, storage or another client; a Doc that raises is
retired unread; a stored log that cannot load is quarantined, not a crash loop.

Against a real server subprocess: if a fix regressed, the server (not pytest) would die.
"""

from __future__ import annotations

import json
import signal
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from raw_client import RawClient
from server_process import ServerProcess, create_session, read_session
from support.waiting import wait_until

from crdt_server import protocol
from crdt_server.protocol import encode_varuint

BREAKERS = json.loads((Path(__file__).parents[3] / "shared/repro/pycrdt-breakers.json").read_text())
SETS = ["hang", "crash"]


def ws_url(server: ServerProcess, sid: str) -> str:
    return server.url.replace("http", "ws") + f"/ws/sessions/{sid}"


async def healthy(http: aiohttp.ClientSession, server: ServerProcess) -> bool:
    async with http.get(f"{server.url}/api/v1/health") as response:
        return response.status == 200


@pytest.mark.parametrize("kind", SETS)
async def test_breaker_updates_over_a_socket_are_refused_and_reach_nobody(
    kind: str, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with ServerProcess(["--db", str(tmp_path / "s.db")]) as server:
        sid = await create_session(http, server, code="keep\n")
        bystander = await RawClient.connect(http, ws_url(server, sid), autoping=False)
        await bystander.handshake()
        for hexed in BREAKERS[kind]["updates"]:
            attacker = await RawClient.connect(http, ws_url(server, sid))
            await attacker.handshake()
            await attacker.ws.send_bytes(protocol.sync_update(bytes.fromhex(hexed)))
            code, _ = await attacker.close_code(timeout=5)
            assert code == 1007
        # the room still works: an honest edit reaches the bystander, nothing bad did
        writer = await RawClient.connect(http, ws_url(server, sid))
        await writer.handshake()
        sent = await writer.edit(0, "after\n")

        frames = await wait_until(bystander.frames_before_pong, what="the honest edit")
        assert frames == [sent]  # forwarded as it came; nothing of the breakers before it
        assert (await read_session(http, server, sid))["code"] == "after\nkeep\n"
        assert await server.stop() == 0
    assert "Traceback" not in server.log


async def test_an_update_pycrdt_raises_on_retires_the_room_and_loses_nothing(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    db = str(tmp_path / "s.db")
    async with ServerProcess(["--db", db]) as server:
        sid = await create_session(http, server)
        typist = await RawClient.connect(http, ws_url(server, sid))
        await typist.handshake()
        await typist.edit(0, "ab")

        async def typed() -> bool:
            return bool((await read_session(http, server, sid))["code"] == "ab")

        await wait_until(typed, what="the typed text")
        # Well-formed, but its parent is a character, not a type: pycrdt raises applying it.
        client = encode_varuint(typist.doc.client_id)
        poison = bytes([1, 1, 7, 0, 4, 0]) + client + bytes([0, 1, ord("x"), 0])
        attacker = await RawClient.connect(http, ws_url(server, sid))
        await attacker.handshake()
        await attacker.ws.send_bytes(protocol.sync_update(poison))
        assert (await attacker.close_code())[0] == 1013  # reconnect: the room reloads
        assert (await typist.close_code())[0] == 1013  # everyone in it is told to reconnect
        again = await RawClient.connect(http, ws_url(server, sid))
        await again.handshake()
        assert str(again.text) == "ab"
        assert await server.stop(signal.SIGTERM, timeout=15) == 0  # no hang at shutdown
    async with ServerProcess(["--db", db]) as server:
        assert (await read_session(http, server, sid))["code"] == "ab"
        assert await server.stop() == 0


def store_breakers(db: str, sid: str, kind: str) -> None:
    with sqlite3.connect(db) as conn:
        for hexed in BREAKERS[kind]["updates"]:
            last = conn.execute(
                "SELECT coalesce(max(seq), 0) FROM doc_log WHERE session_id = ?", (sid,)
            ).fetchone()[0]
            conn.execute(
                "INSERT INTO doc_log (session_id, seq, data, created_at) VALUES (?, ?, ?, 1)",
                (sid, last + 1, bytes.fromhex(hexed)),
            )


@pytest.mark.parametrize("kind", SETS)
async def test_a_stored_log_that_cannot_load_is_quarantined_and_its_good_prefix_readable(
    kind: str, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    db = str(tmp_path / "s.db")
    async with ServerProcess(["--db", db]) as server:
        sid = await create_session(http, server, code="good prefix\n")
        assert await server.stop() == 0
    store_breakers(db, sid, kind)
    async with ServerProcess(["--db", db]) as server:
        for _ in range(2):  # twice: opening it again is no crash loop either
            session = await read_session(http, server, sid)
            assert session["code"] == "good prefix\n" and "invalid" in session["damaged"]
            reader = await RawClient.connect(http, ws_url(server, sid))
            assert (await reader.close_code())[0] == 4409
        patch: dict[str, Any] = {"code": "overwrite\n"}
        async with http.patch(f"{server.url}/api/v1/sessions/{sid}", json=patch) as response:
            assert response.status == 409 and (await response.json())["code"] == "DOCUMENT_DAMAGED"
        assert await healthy(http, server)
        assert await server.stop() == 0
    with sqlite3.connect(db) as conn:  # nothing was compacted away: an operator can look
        count = conn.execute("SELECT count(*) FROM doc_log WHERE session_id = ?", (sid,))
        assert count.fetchone()[0] == len(BREAKERS[kind]["updates"])


async def test_an_update_with_a_clock_gap_is_not_applied_and_its_sender_is_asked_to_sync(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    # Yjs keeps this pending (client 5 starts at clock 5, the room has none of it); yrs used
    # to integrate it, so REST read "xabc" while every stock client kept "abc" (fuzz campaign)
    gap = bytes.fromhex("00020e01010505040104636f6465017800")
    async with ServerProcess(["--db", str(tmp_path / "s.db")]) as server:
        sid = await create_session(http, server, code="abc")
        bystander, sender = await synced_pair(http, server, sid)
        await sender.ws.send_bytes(gap)
        answer = await sender.frames_before_pong()
        assert [protocol.decode(f).subtype for f in answer] == [protocol.SyncType.STEP1]
        assert await bystander.frames_before_pong() == []  # nothing was forwarded
        assert (await read_session(http, server, sid))["code"] == "abc"
        assert await server.stop() == 0


def one_item(client: int, clock: int, item: bytes) -> bytes:
    """A Yjs v1 update of one struct and an empty delete set."""
    return b"\x01\x01" + encode_varuint(client) + encode_varuint(clock) + item + b"\x00"


def root_item(ref: int, content: bytes) -> bytes:
    """An Item with no origins at the start of the root text "code"."""
    return bytes([ref]) + b"\x01\x04code" + content


async def synced_pair(
    http: aiohttp.ClientSession, server: ServerProcess, sid: str
) -> tuple[RawClient, RawClient]:
    """Two raw clients of the session, each through its handshake: a bystander and a sender."""
    pair = []
    for _ in range(2):
        client = await RawClient.connect(http, ws_url(server, sid), autoping=False)
        await client.handshake()
        pair.append(client)
    return pair[0], pair[1]


async def test_deleting_clocks_the_document_lacks_is_not_applied_and_the_sender_asked_to_sync(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    # yrs keeps such a range and deletes whatever later takes those clocks: here the first
    # half of an emoji, which left a zero-length text item the next load refused (fuzz run)
    ahead = b"\x00\x01" + encode_varuint(777) + b"\x01\x00\x01"  # delete (777, 0), length 1
    emoji = one_item(777, 0, root_item(4, b"\x04" + "😀".encode()))
    db = str(tmp_path / "s.db")
    async with ServerProcess(["--db", db]) as server:
        sid = await create_session(http, server, code="abc")
        bystander, sender = await synced_pair(http, server, sid)
        await sender.ws.send_bytes(protocol.sync_update(ahead))
        answer = await sender.frames_before_pong()
        assert [protocol.decode(f).subtype for f in answer] == [protocol.SyncType.STEP1]
        assert await bystander.frames_before_pong() == []
        await sender.ws.send_bytes(protocol.sync_update(emoji))
        assert await sender.frames_before_pong() == []
        assert (await read_session(http, server, sid))["code"] == "😀abc"
        assert await server.stop() == 0
    async with ServerProcess(["--db", db]) as server:  # the folded state loads whole
        assert (await read_session(http, server, sid))["code"] == "😀abc"
        assert await server.stop() == 0
    assert "ERROR" not in server.log


@pytest.mark.parametrize(
    "ref, content",
    [(3, b"\x02hi"), (5, b'\x07{"a":1}'), (7, b"\x02"), (8, b"\x01\x7d\x04")],
    ids=["binary", "embed", "type", "value"],
)
async def test_an_object_put_into_the_code_is_deleted_and_later_edits_land_where_meant(
    ref: int, content: bytes, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    # pycrdt counts such an item in the code without showing it, so every server edit after
    # it was off by one: characters cut in two, items of length 0, a state that cannot load
    db = str(tmp_path / "s.db")
    async with ServerProcess(["--db", db]) as server:
        sid = await create_session(http, server, code="é😀ab\n")
        bystander, attacker = await synced_pair(http, server, sid)
        sent = protocol.sync_update(one_item(555, 0, root_item(ref, content)))
        await attacker.ws.send_bytes(sent)
        assert await attacker.frames_before_pong() == []
        relayed = await wait_until(bystander.frames_before_pong, what="the relayed update")
        assert len(relayed) == 1 and relayed[0] != sent  # the deletion went out merged in
        for code in ("é😀Xab\n", "😀Xab\n", "😀Xa\n"):  # each a server edit of the one before
            url = f"{server.url}/api/v1/sessions/{sid}"
            async with http.patch(url, json={"code": code}) as response:
                assert response.status == 200, await response.text()
            assert (await read_session(http, server, sid))["code"] == code
        assert await server.stop() == 0
    async with ServerProcess(["--db", db]) as server:
        assert (await read_session(http, server, sid))["code"] == "😀Xa\n"
        assert await server.stop() == 0
    assert "ERROR" not in server.log and "Traceback" not in server.log
