"""Work nobody asked for is not done: loads, rewrites, reads and encodes are counted.

The counters wrap the real methods (the work still happens); they only count calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from json_ws import JsonWs
from raw_client import RawClient
from support.waiting import wait_until

import crdt_server.room
from rest.keys import LIVE, STORAGE

Client = TestClient[web.Request, web.Application]


def held(rooms: Any, sid: str, loaded: bool = True) -> Callable[[], Awaitable[bool]]:
    """A condition: the session's room is (or is no longer) loaded."""

    async def check() -> bool:
        return (sid in rooms.rooms) == loaded

    return check


def count_calls(monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> list[tuple[Any, ...]]:
    """Record every call of ``owner.name`` (still calling it) in the returned list."""
    calls: list[tuple[Any, ...]] = []
    real: Callable[..., Any] = getattr(owner, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


async def new_session(api: Client, code: str = "print(1)\n") -> str:
    response = await api.post("/api/v1/sessions", json={"code": code, "language": "python"})
    return str((await response.json())["data"]["id"])


async def test_rest_reads_of_an_idle_session_load_no_room(api: Client) -> None:
    sid = await new_session(api)
    for path in ("", "/participants", "/runs", "/history"):
        assert (await api.get(f"/api/v1/sessions/{sid}{path}")).status == 200
    body = (await (await api.get(f"/api/v1/sessions/{sid}")).json())["data"]
    assert body["code"] == "print(1)\n" and body["language"] == "python"
    assert sid not in api.app[LIVE].rooms.rooms


async def test_a_room_unloaded_unchanged_does_not_rewrite_its_snapshot(
    api: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = await new_session(api)
    compactions = count_calls(monkeypatch, api.app[STORAGE], "compact")
    history = count_calls(monkeypatch, api.app[STORAGE], "add_history")
    rooms = api.app[LIVE].rooms
    reader = await RawClient.connect(api.session, str(api.make_url(f"/ws/sessions/{sid}")))
    await reader.handshake()
    assert sid in rooms.rooms
    await reader.ws.close()
    await wait_until(held(rooms, sid, loaded=False), what="the idle room to unload")
    assert compactions == [] and history == []
    # ...while a room that changed is compacted once and snapshotted once when it unloads
    writer = await RawClient.connect(api.session, str(api.make_url(f"/ws/sessions/{sid}")))
    await writer.handshake()
    await writer.edit(0, "# new\n")

    async def edited() -> bool:
        return sid in rooms.rooms and rooms.rooms[sid].version > 0

    await wait_until(edited, what="the edit in the room")
    await rooms.log.flush()  # two log entries: one alone is not worth folding
    await writer.edit(0, "# newer\n")

    async def edited_again() -> bool:
        return sid in rooms.rooms and rooms.rooms[sid].version > 1

    await wait_until(edited_again, what="the second edit in the room")
    await writer.ws.close()
    await wait_until(held(rooms, sid, loaded=False), what="the changed room to unload")
    assert len(compactions) == 1 and len(history) == 1


async def test_a_patch_reads_the_session_once(api: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    sid = await new_session(api)
    reads = count_calls(monkeypatch, api.app[STORAGE], "get_session")
    response = await api.patch(f"/api/v1/sessions/{sid}", json={"code": "print(2)\n"})
    assert response.status == 200 and len(reads) == 1
    patched = (await response.json())["data"]
    reread = (await (await api.get(f"/api/v1/sessions/{sid}")).json())["data"]
    assert patched == reread  # updatedAt included: what PATCH answered is what is stored


async def test_json_clients_share_one_encode_of_each_version(
    api: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = await new_session(api, "")
    url = str(api.make_url(f"/ws/sessions/{sid}"))
    watchers = [await JsonWs.connect(api.session, url + "?protocol=json") for _ in range(6)]
    for watcher in watchers:
        await watcher.expect("code_change")
    room = api.app[LIVE].rooms.rooms[sid]
    encodes = count_calls(monkeypatch, room.doc, "get_update")
    typist = await RawClient.connect(api.session, url)
    await typist.handshake()
    for i in range(30):
        await typist.edit(i, "k")
        await asyncio.sleep(0.01)  # pacing: let several coalesced flushes happen
    for watcher in watchers:
        await watcher.expect("code_change", lambda d: d["code"] == "k" * 30)
    sent = {e["data"]["code"] for w in watchers for e in w.events if e["type"] == "code_change"}
    # One encode per version some client was sent (plus the handshake's), not one per client.
    assert len(encodes) <= len(sent) + 2, (len(encodes), len(sent))
    await asyncio.gather(*(w.close() for w in watchers), typist.ws.close())


async def test_a_json_writer_on_the_current_version_rebuilds_no_shadow_document(
    api: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # each code_change of a lone typist rebuilt its base from the whole state in a shadow
    # document, a cost that grew with the history (bench/attacks.py json-flood)
    sid = await new_session(api, "")
    shadows = count_calls(monkeypatch, crdt_server.room, "edit_of")
    writer = await JsonWs.connect(
        api.session, str(api.make_url(f"/ws/sessions/{sid}")) + "?protocol=json"
    )
    await writer.expect("code_change")
    room = api.app[LIVE].rooms.rooms[sid]
    for n in range(1, 21):  # back to back, as a fast typist's events arrive
        await writer.send("code_change", {"code": "x" * n})
    await wait_until(partial(has_code, room, "x" * 20), what="the last write")
    assert shadows == []
    await writer.close()


def has_code(room: Any, code: str) -> bool:
    return bool(room.code == code)
